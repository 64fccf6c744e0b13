"""Signed callback data: compact, tamper-evident, and every malformed payload refused."""

from __future__ import annotations

import random
import string

import pytest

from sma.services.telegram.callbacks import MAX_BYTES, CallbackCodec, InvalidCallback, derive_secret

SECRET = b"a-test-callback-secret-of-32-bytes!"


def test_round_trip_stays_under_the_telegram_limit() -> None:
    codec = CallbackCodec(SECRET)
    for action in "aros":
        for ref, round_no in ((1, 1), (987_654_321, 5), (36**12 - 1, 36**6 - 1)):
            data = codec.encode(action, ref, round_no)
            assert len(data.encode()) <= MAX_BYTES
            decoded = codec.decode(data)
            assert (decoded.ref, decoded.round) == (ref, round_no)


def test_forged_and_tampered_data_is_refused() -> None:
    codec = CallbackCodec(SECRET)
    other = CallbackCodec(b"another-secret-another-secret-xx")
    genuine = codec.encode("a", 42, 2)
    with pytest.raises(InvalidCallback):
        codec.decode(other.encode("a", 42, 2))  # signed with someone else's secret
    body, _, sig = genuine.rpartition(".")
    for forged in (genuine.replace("a", "r", 1), "a43" + genuine[3:], body.replace(".2", ".3") + "." + sig,
                   body + "." + sig[::-1], genuine + "x", genuine[:-1]):
        with pytest.raises(InvalidCallback):
            codec.decode(forged)


def test_callback_data_with_trailing_newline_refused() -> None:
    codec = CallbackCodec(SECRET)
    genuine = codec.encode("a", 42, 2)
    assert codec.decode(genuine).action == "approve"
    for padded in (genuine + "\n", genuine + "\r\n", "\n" + genuine, genuine + " "):
        with pytest.raises(InvalidCallback, match="not a callback"):  # refused before the signature is checked
            codec.decode(padded)


def test_hundreds_of_random_payloads_are_refused() -> None:
    codec = CallbackCodec(SECRET)
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + "._-|:/ é"
    for _ in range(500):
        payload = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        with pytest.raises(InvalidCallback):
            codec.decode(payload)
    for _ in range(300):  # well-formed layout, random signature
        sig = "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(16))
        with pytest.raises(InvalidCallback):
            codec.decode(f"{rng.choice('aros')}{rng.randint(1, 999)}.{rng.randint(1, 5)}.{sig}")
    for bad in (None, 12, b"a1.1.xxxxxxxxxxxxxxxx", "x" * 65):
        with pytest.raises(InvalidCallback):
            codec.decode(bad)


def test_secret_comes_from_config_or_the_token() -> None:
    assert derive_secret("configured-secret-value", "1:tok") == b"configured-secret-value"
    derived = derive_secret(None, "1:tok")
    assert len(derived) == 32 and derived != b"1:tok"
    with pytest.raises(ValueError):
        derive_secret(None, None)
    with pytest.raises(ValueError):
        CallbackCodec(b"short")
