"""Collection: transports that run the batched probe and return raw evidence."""
