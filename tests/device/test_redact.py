# The one redaction point: registered secrets never reach a message.
from tempnode import redact
from tempnode.redact import LinkError


def test_registered_secrets_are_masked_in_text_and_errors():
    token = redact.secret("eyJhbGciOiJFUzI1NiJ9.payload.sig")
    assert token == "eyJhbGciOiJFUzI1NiJ9.payload.sig"
    text = redact.scrub("POST failed: Authorization: Bearer " + token + " (401)")
    assert token not in text and "Bearer *** (401)" in text, text
    assert token not in str(LinkError("server echoed " + token))


def test_short_values_and_non_strings_are_not_secrets():
    redact.secret("spark")
    redact.secret(None)
    redact.secret(12345678)
    assert redact.scrub("spark cloud") == "spark cloud"


def test_only_the_most_recent_secrets_are_kept():
    names = ["secret-number-%02d" % i for i in range(20)]
    for name in names:
        redact.secret(name)
    assert [redact.scrub(n) for n in names[-12:]] == ["***"] * 12
    assert redact.scrub(names[0]) == names[0]  # long retired: no longer worth the memory
