"""The duty-officer console in headless Chromium."""
