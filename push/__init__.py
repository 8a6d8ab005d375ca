"""Web Push: the hub's VAPID keys, agents' devices, and a push for a customer's message or a mention."""
