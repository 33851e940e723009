"""Telling people: one digest per destination of the events and newly opened findings it has not been told.

- routes.py      who hears about what: destinations (apprise URLs), the accounts (OU paths, a tag) and
                 the severities each gets, from --to and credsight.toml's [[notify.route]]
- digest.py      the digest itself, as Markdown and as plain text, with every report value made inert
- watermarks.py  what each destination was told, kept in the store (append-only; a digest of the URL)
- delivery.py    delivery through apprise (Slack, Teams, email, webhooks, SNS and many more)
- sending.py     the whole round: compute, deliver, and advance a destination's watermark only once it
                 accepted the digest

Delivery is passed in (`Deliver`), so the deployed collector publishes to its SNS topic through boto3
(deploy/lambda_handler.py) with the same digests and watermarks.
"""
