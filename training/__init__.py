"""Training and fine-tuning of emolive's models (`python -m training KIND ...` or `emolive train`)."""
