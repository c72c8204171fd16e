from properties import profiles

PROFILE = profiles.load()


def pytest_report_header() -> str:
    return f"tcpclose hypothesis profile: {PROFILE} (set TCPCLOSE_PROFILE to dev, ci or thorough)"
