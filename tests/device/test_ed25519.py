# Ed25519 verification and SHA-512 under MicroPython: RFC 8032 §7.1's test vectors, the
# FIPS 180-4 examples, and the rejections RFC 8032 §5.1.7 asks for (bad signatures, S >= L,
# public keys that are not canonical points). tests/test_ota_signatures.py checks the same
# verifier against signatures made by `cryptography` (OpenSSL).
from binascii import hexlify, unhexlify

from tempnode import ed25519
from tempnode.sha512 import Sha512, sha512

# (name, public key, message, signature): RFC 8032 §7.1, Ed25519 (TEST 1, 2, 3, 1024, SHA(abc)).
RFC8032 = (
    (
        "TEST 1",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        (
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
            "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
    ),
    (
        "TEST 2",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        (
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
            "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
    ),
    (
        "TEST 3",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        (
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
            "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ),
    (
        "TEST 1024",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        (
            "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12"
            "ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe57"
            "38829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338b"
            "bd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
            "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b8"
            "32f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
            "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53"
            "f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
            "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6"
            "079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553"
            "878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2"
            "cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
            "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae078"
            "4504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8"
            "fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301"
            "651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
            "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd9"
            "04b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
            "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a"
            "3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
            "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a4"
            "3dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041"
            "e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d9"
            "0d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
            "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef"
            "68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"
        ),
        (
            "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f45"
            "28ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"
        ),
    ),
    (
        "TEST SHA(abc)",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        (
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"
            "36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        ),
        (
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
            "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"
        ),
    ),
)
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493


def vector(name):
    for entry in RFC8032:
        if entry[0] == name:
            return [unhexlify(x) for x in entry[1:]]
    raise KeyError(name)


def test_every_rfc8032_vector_verifies():
    for name, public, message, signature in RFC8032:
        assert ed25519.verify(unhexlify(public), unhexlify(message), unhexlify(signature)), name


def test_a_changed_message_signature_or_key_is_refused():
    public, message, signature = vector("TEST 3")
    assert not ed25519.verify(public, message + b"\x00", signature)
    assert not ed25519.verify(public, b"\xaf\x83", signature)
    for at in (0, 31, 32, 63):  # R's first and last byte, S's first and last byte
        bad = bytearray(signature)
        bad[at] ^= 1
        assert not ed25519.verify(public, message, bytes(bad)), at
    other, _, _ = vector("TEST 2")
    assert not ed25519.verify(other, message, signature)
    assert not ed25519.verify(public, message, signature[:63])
    assert not ed25519.verify(public[:31], message, signature)


def test_s_plus_l_is_refused_though_it_is_the_same_scalar():
    # S and S + L satisfy the same group equation: accepting both makes signatures malleable.
    public, message, signature = vector("TEST 1")
    s = int.from_bytes(signature[32:], "little")
    assert s < L
    malleable = signature[:32] + (s + L).to_bytes(32, "little")
    assert not ed25519.verify(public, message, malleable)


def test_public_keys_that_are_not_canonical_points_are_refused():
    _, message, signature = vector("TEST 1")
    for y, sign in ((P, 0), (P + 1, 0), (2**255 - 1, 0), (1, 1)):
        # y >= p (p itself encodes the point y = 0; p + 1 the neutral element), and
        # x = 0 with the sign bit set (RFC 8032 §5.1.3 step 4).
        encoded = (y | sign << 255).to_bytes(32, "little")
        assert ed25519._decode_point(encoded) is None, (y, sign)
        assert not ed25519.verify(encoded, message, signature)
    # y = 2 has no x on the curve: (y^2 - 1) / (d y^2 + 1) is not a square.
    assert ed25519._decode_point((2).to_bytes(32, "little")) is None


def test_the_watchdog_is_fed_during_a_verification():
    public, message, signature = vector("TEST 2")
    ticks = []
    assert ed25519.verify(public, message, signature, lambda: ticks.append(1))
    assert len(ticks) >= 253 // 16, len(ticks)


def test_sha512_matches_the_fips_examples_and_hashes_in_pieces():
    assert hexlify(sha512(b"abc")) == (
        b"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        b"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    )
    two_blocks = (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
    )
    assert hexlify(sha512(two_blocks)) == (
        b"8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        b"501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
    )
    assert hexlify(sha512(b""))[:16] == b"cf83e1357eefb8bd"
    h = Sha512()
    for _ in range(1000):
        h.update(b"a")  # 1000 one-byte pieces cross seven block boundaries
    assert hexlify(h.digest())[:32] == b"67ba5535a46e3f86dbfbed8cbbaf0125"
    assert h.digest() == h.digest()  # digest() does not disturb the running hash
