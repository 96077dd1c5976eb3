# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""Handlers of Shelf Service: one module per operation, each with `async def handle`.

planforge created these files once and never changes them. A module may be removed or
renamed: the operation then answers 501 until its handler exists again.

Define `async def startup(resources: Resources) -> None` here to run code when the
service starts (creating tables, say).
"""
