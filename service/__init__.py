"""What the Cloud Run image holds: the stream model (service/model) and the runtime (service/runtime)."""
