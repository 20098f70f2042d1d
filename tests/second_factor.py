"""The second factor in tests (issue 14). In-process test clients signed in with
`force_login` / `login` count as verified, as after the sign-in's code step
(`verified_session`, applied in tests/conftest.py); live nodes and browsers type
real codes (`LIVE_CODES`)."""

from __future__ import annotations

from accord.core.democlient import OneTimeCodes

# The authenticator secret of every live-node user whose role requires a second
# factor (tests/live.py enrols them with it; base32, 20 bytes).
LIVE_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
LIVE_CODES = OneTimeCodes(LIVE_TOTP_SECRET)


def verified_session(client, user) -> None:
    """Mark a test client's session verified, as the sign-in's code step does,
    for a user who needs a second factor; an authenticator is set up for them."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accord.core import twofactor

    if not (twofactor.required(user) or twofactor.enrolled(user)):
        return
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
