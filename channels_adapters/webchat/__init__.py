"""Web chat: the embeddable widget (widget.js), its websocket consumer, visitor identity."""
