"""The shared vocabulary every layer speaks: the messages actors exchange (``messages``) and the
typed configuration (``settings``). It imports nothing of the bot, so any layer may import it."""
