"""Audience segments: who a message is for, who a campaign reaches, what a survey breaks down by.

The lowest domain package: ``content`` and ``surveys`` read segments from here, and ``campaign``
(which may use both) adds contacts and rule membership on top. Nothing here imports another
Konbit package but ``web.accounts.models`` for its clock.
"""
