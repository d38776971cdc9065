-- Ed25519 signature verification (RFC 8032, section 5.1.7) in plain PL/pgSQL, so that the fleet
-- server checks every signed head itself, with no extension to install. Field elements are
-- numeric values modulo p = 2^255 - 19, reduced after each product and kept in (-p, p);
-- points are extended twisted Edwards coordinates (X, Y, Z, T). Verification is the
-- cofactorless check that the encoding of [S]B - [k]A equals R, as the reference code does.
-- Speed is a few tens of milliseconds per signature: the server checks one per shipped batch.

CREATE OR REPLACE FUNCTION pumpctl.ed25519_le(b bytea) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    n numeric := 0;
BEGIN
    FOR i IN REVERSE length(b) - 1 .. 0 LOOP
        n := n * 256 + get_byte(b, i);
    END LOOP;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION pumpctl.ed25519_pow(base numeric, e numeric) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p CONSTANT numeric := 57896044618658097711785492504343953926634992332820282019728792003956564819949;
    r numeric := 1;
    b numeric := mod(base, p);
BEGIN
    WHILE e > 0 LOOP
        IF mod(e, 2) = 1 THEN
            r := mod(r * b, p);
        END IF;
        b := mod(b * b, p);
        e := div(e, 2);
    END LOOP;
    RETURN r;
END $$;

CREATE OR REPLACE FUNCTION pumpctl.ed25519_verify(public_key bytea, message bytea, signature bytea)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p CONSTANT numeric := 57896044618658097711785492504343953926634992332820282019728792003956564819949;
    d CONSTANT numeric := 37095705934669439343138083508754565189542113879843219016388785533085940283555;
    d2 CONSTANT numeric := 16295367250680780974490674513165176452449235426866156013048779062215315747161;
    l CONSTANT numeric := 7237005577332262213973186563042994240857116359379907606001950938285454250989;
    sqrtm1 CONSTANT numeric := 19681161376707505956807079304988542015446066515923890162744021073123829784752;
    base_x CONSTANT numeric := 15112221349535400772501151409588531511454012693041857206046113283949847762202;
    base_y CONSTANT numeric := 46316835694926478169428394003475163141307993866256225615783033603165251855960;
    s numeric; k numeric; kb bytea; sb bytea;
    ax numeric; ay numeric; u numeric; v numeric; vxx numeric; sign int;
    -- the three addends of the joint ladder: B, -A and B - A (extended coordinates)
    p1x numeric; p1y numeric; p1z numeric; p1t numeric;
    p2x numeric; p2y numeric; p2z numeric; p2t numeric;
    p3x numeric; p3y numeric; p3z numeric; p3t numeric;
    qx numeric := 0; qy numeric := 1; qz numeric := 1; qt numeric := 0;
    ox numeric; oy numeric; oz numeric; ot numeric;
    fa numeric; fb numeric; fc numeric; fd numeric; fe numeric; ff numeric; fg numeric; fh numeric;
    bit1 int; bit2 int; zi numeric; rx numeric; ry numeric; enc bytea;
BEGIN
    IF length(public_key) <> 32 OR length(signature) <> 64 THEN
        RETURN false;
    END IF;
    sb := substring(signature FROM 33 FOR 32);
    s := pumpctl.ed25519_le(sb);
    IF s >= l THEN
        RETURN false;
    END IF;
    -- decode A (RFC 8032, 5.1.3)
    sign := get_byte(public_key, 31) >> 7;
    ay := pumpctl.ed25519_le(set_byte(public_key, 31, get_byte(public_key, 31) & 127));
    IF ay >= p THEN
        RETURN false;
    END IF;
    u := mod(ay * ay - 1, p);
    v := mod(d * ay * ay + 1, p);
    ax := mod(u * pumpctl.ed25519_pow(v, 3), p);
    ax := mod(ax * pumpctl.ed25519_pow(
        u * pumpctl.ed25519_pow(v, 7),
        7237005577332262213973186563042994240829374041602535252466099000494570602493), p);
    vxx := mod(v * ax * ax, p);
    IF mod(vxx - u, p) = 0 THEN
        NULL;
    ELSIF mod(vxx + u, p) = 0 THEN
        ax := mod(ax * sqrtm1, p);
    ELSE
        RETURN false;
    END IF;
    IF ax < 0 THEN ax := ax + p; END IF;
    IF ax = 0 AND sign = 1 THEN
        RETURN false;
    END IF;
    IF mod(ax, 2) <> sign THEN
        ax := p - ax;
    END IF;
    -- k = SHA-512(R || A || M) mod l, as 32 little-endian bytes
    k := mod(pumpctl.ed25519_le(sha512(substring(signature FROM 1 FOR 32) || public_key || message)), l);
    kb := '\x'::bytea;
    FOR i IN 0 .. 31 LOOP
        kb := kb || set_byte('\x00'::bytea, 0, mod(k, 256)::int);
        k := div(k, 256);
    END LOOP;
    p1x := base_x; p1y := base_y; p1z := 1; p1t := mod(base_x * base_y, p);
    p2x := -ax; p2y := ay; p2z := 1; p2t := mod(-ax * ay, p);
    -- P3 = P1 + P2
    fa := mod((p1y - p1x) * (p2y - p2x), p);
    fb := mod((p1y + p1x) * (p2y + p2x), p);
    fc := mod(mod(p1t * d2, p) * p2t, p);
    fd := 2 * p1z * p2z;
    fe := fb - fa; ff := fd - fc; fg := fd + fc; fh := fb + fa;
    p3x := mod(fe * ff, p); p3y := mod(fg * fh, p); p3t := mod(fe * fh, p); p3z := mod(ff * fg, p);
    FOR i IN REVERSE 255 .. 0 LOOP
        -- Q = 2Q
        fa := mod(qx * qx, p);
        fb := mod(qy * qy, p);
        fc := mod(2 * qz * qz, p);
        fh := fa + fb;
        fe := mod(fh - (qx + qy) * (qx + qy), p);
        fg := fa - fb;
        ff := fc + fg;
        qx := mod(fe * ff, p); qy := mod(fg * fh, p); qt := mod(fe * fh, p); qz := mod(ff * fg, p);
        bit1 := (get_byte(sb, i >> 3) >> (i & 7)) & 1;
        bit2 := (get_byte(kb, i >> 3) >> (i & 7)) & 1;
        IF bit1 = 1 AND bit2 = 1 THEN
            ox := p3x; oy := p3y; oz := p3z; ot := p3t;
        ELSIF bit1 = 1 THEN
            ox := p1x; oy := p1y; oz := p1z; ot := p1t;
        ELSIF bit2 = 1 THEN
            ox := p2x; oy := p2y; oz := p2z; ot := p2t;
        ELSE
            CONTINUE;
        END IF;
        -- Q = Q + O
        fa := mod((qy - qx) * (oy - ox), p);
        fb := mod((qy + qx) * (oy + ox), p);
        fc := mod(mod(qt * d2, p) * ot, p);
        fd := mod(2 * qz * oz, p);
        fe := fb - fa; ff := fd - fc; fg := fd + fc; fh := fb + fa;
        qx := mod(fe * ff, p); qy := mod(fg * fh, p); qt := mod(fe * fh, p); qz := mod(ff * fg, p);
    END LOOP;
    -- encode Q and compare with R
    zi := pumpctl.ed25519_pow(qz, p - 2);
    rx := mod(qx * zi, p); IF rx < 0 THEN rx := rx + p; END IF;
    ry := mod(qy * zi, p); IF ry < 0 THEN ry := ry + p; END IF;
    enc := '\x'::bytea;
    FOR i IN 0 .. 31 LOOP
        enc := enc || set_byte('\x00'::bytea, 0, mod(ry, 256)::int);
        ry := div(ry, 256);
    END LOOP;
    IF mod(rx, 2) = 1 THEN
        enc := set_byte(enc, 31, get_byte(enc, 31) | 128);
    END IF;
    RETURN enc = substring(signature FROM 1 FOR 32);
END $$;
