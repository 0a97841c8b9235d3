"""One router per resource; ``docfields.serve.app`` assembles them."""
