"""The agents' workspace and the REST API: the screens, the agents' websocket and the API views.

The top of the hub: it may call every app's services and selectors, and no app imports it (the import
contract in pyproject.toml keeps it so). Shared view helpers that the reports and the lifecycle screens use
too live below it, in conversations/web.py.
"""
