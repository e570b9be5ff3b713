"""The HTTP service of recsft (``recsft serve``): user state, the serving engine and the app.

Nothing heavy is imported here: each module imports torch, FastAPI or Redis when it needs them.
"""
