"""The queuectl dashboard: a Textual app over the core in ``queuectl``.

Only this package imports Textual; the core never imports it.
"""
