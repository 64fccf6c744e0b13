"""Bot handlers, one module per concern; sma/bot/app.py wires them."""
