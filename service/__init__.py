"""hookstream's webhook service and the stream model it shares with the infrastructure."""
