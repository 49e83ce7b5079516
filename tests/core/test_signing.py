from driftloop.core.signing import sign_body, verify_signature


def test_signature_roundtrip_and_tamper():
    body = b'{"event_id": "a", "drift_score": 0.5}'
    sig = sign_body(body, "s3cr3t")
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify_signature(body, sig, "s3cr3t")
    assert not verify_signature(body + b" ", sig, "s3cr3t")
    assert not verify_signature(body, sig, "other")
    assert not verify_signature(body, None, "s3cr3t")
    assert not verify_signature(body, sig.replace("sha256=", "md5="), "s3cr3t")
