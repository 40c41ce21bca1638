"""The wire protocol's version: every text frame carries it as ``v`` (see ``messages``)."""

PROTOCOL_VERSION = 1
