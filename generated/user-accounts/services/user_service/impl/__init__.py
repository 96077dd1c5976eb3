"""Handlers of User Service: one module per operation, each with `async def handle`.

The users table (tables.py) is created by this service's migration, migrations/user_service_0001_initial.py,
which the service applies when it starts.
"""
