"""The demo organization: synthetic accounts and their daily credential reports, exact to AWS's format."""

from credsight.demo.organization import DemoAccount, DemoOrganization, DemoReport

__all__ = ["DemoAccount", "DemoOrganization", "DemoReport"]
