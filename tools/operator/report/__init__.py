"""`scripts/report`: the ROI view of a stream as one self-contained HTML file a marketer opens offline."""
