-- The fleet server's schema: every shipped journal record, re-verified by the server itself.
--
-- Records arrive in chain order, per journal (journal id + sequence number is the primary key).
-- The insert trigger recomputes each record's SHA-256 link from its exact hashed bytes (body),
-- rejects a gap, a broken link or a fork (another record at a sequence number already held),
-- and skips a record it already holds (a replayed batch changes nothing). A transaction that
-- adds records must also add a head signed by the journal's key that covers them, or it cannot
-- commit: a forged direct INSERT fails even with a correct chain. Keys come from the chain's
-- own key.enrolled / key.rotated records (a rotation must carry the outgoing key's signature).
-- Tables are append-only. The trigger functions run as the schema's owner (SECURITY DEFINER),
-- so a shipping role needs only INSERT on records and heads, never on keys or journals.

CREATE TABLE pumpctl.schema_info (
    name    text    PRIMARY KEY CHECK (name = 'pumpctl.fleet'),
    version integer NOT NULL
);

CREATE TABLE pumpctl.journals (
    journal_id    text        PRIMARY KEY,
    subject_id    text        NOT NULL DEFAULT '',
    pump_label    text        NOT NULL DEFAULT '',
    study         text        NOT NULL DEFAULT '',
    signed_seq    bigint      NOT NULL DEFAULT 0,
    signed_hash   text,
    signed_key_id text,
    last_wall     timestamptz,
    first_shipped timestamptz NOT NULL DEFAULT now(),
    last_shipped  timestamptz
);

CREATE TABLE pumpctl.keys (
    journal_id text    NOT NULL REFERENCES pumpctl.journals,
    from_seq   bigint  NOT NULL,
    key_id     text    NOT NULL,
    public_key bytea   NOT NULL CHECK (length(public_key) = 32),
    vouched    boolean NOT NULL,
    PRIMARY KEY (journal_id, from_seq)
);

-- Keys an administrator vouched for after checking them on the host (pumpctl fleet accept-key):
-- a key that replaced a lost one is accepted when its enrolment record arrives.
CREATE TABLE pumpctl.accepted_keys (
    journal_id  text        NOT NULL,
    key_id      text        NOT NULL,
    accepted_by text        NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (journal_id, key_id)
);

CREATE TABLE pumpctl.records (
    journal_id text        NOT NULL REFERENCES pumpctl.journals,
    seq        bigint      NOT NULL CHECK (seq >= 1),
    kind       text        NOT NULL,
    wall_utc   timestamptz NOT NULL,
    body       text        NOT NULL,
    prev_hash  text        NOT NULL,
    hash       text        NOT NULL,
    PRIMARY KEY (journal_id, seq)
);

CREATE TABLE pumpctl.heads (
    journal_id text        NOT NULL REFERENCES pumpctl.journals,
    seq        bigint      NOT NULL,
    hash       text        NOT NULL,
    key_id     text        NOT NULL,
    signature  bytea       NOT NULL,
    shipped_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (journal_id, seq)
);

-- Shipments the server or the shipper refused (a fork, a host journal cut short or rewritten, a
-- key nobody vouched for, a signature that fails), so that the data manager sees them in
-- `pumpctl fleet status` and not only the host's operator. A log: nothing here is trusted data.
CREATE TABLE pumpctl.refusals (
    journal_id text        NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT now(),
    host_seq   bigint,
    reason     text        NOT NULL CHECK (length(reason) <= 2000)
);
CREATE INDEX refusals_by_journal ON pumpctl.refusals (journal_id, refused_at);

CREATE FUNCTION pumpctl.refuse(what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pumpctl fleet: %', what USING ERRCODE = 'PF000';
END $$;

CREATE FUNCTION pumpctl.lock_journal(journal text) RETURNS void
LANGUAGE sql AS $$
    -- One writer per journal at a time: a second shipper waits, then finds its records held.
    SELECT pg_advisory_xact_lock(hashtextextended('pumpctl.fleet:' || journal, 0));
$$;

CREATE FUNCTION pumpctl.take_key(journal text, at_seq bigint, rec_kind text, payload jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pumpctl AS $$
DECLARE
    pub bytea;
    cur record;
    vouched boolean;
    message bytea;
BEGIN
    IF payload->>'journal_id' IS DISTINCT FROM journal THEN
        RAISE EXCEPTION 'pumpctl fleet: record % of journal % is a key record for journal %',
            at_seq, journal, payload->>'journal_id' USING ERRCODE = 'PF003';
    END IF;
    pub := decode(payload->>'public_key', 'hex');
    IF pub IS NULL OR length(pub) <> 32 THEN
        RAISE EXCEPTION 'pumpctl fleet: record % of journal % holds no Ed25519 public key',
            at_seq, journal USING ERRCODE = 'PF003';
    END IF;
    SELECT k.public_key, k.vouched, k.key_id INTO cur FROM pumpctl.keys AS k
     WHERE k.journal_id = journal ORDER BY k.from_seq DESC LIMIT 1;
    IF rec_kind = 'key.enrolled' THEN
        -- The journal's first key is trusted on first use; a later enrolment replaces a key
        -- that was lost, and nobody vouches for it unless an administrator accepted it.
        vouched := NOT FOUND OR EXISTS (
            SELECT 1 FROM pumpctl.accepted_keys AS a
             WHERE a.journal_id = journal AND a.key_id = left(encode(sha256(pub), 'hex'), 16));
    ELSE
        IF NOT FOUND THEN
            RAISE EXCEPTION 'pumpctl fleet: record % of journal % rotates a key the journal never enrolled',
                at_seq, journal USING ERRCODE = 'PF003';
        END IF;
        message := convert_to('pumpctl.key-rotation/1' || chr(10) || journal || chr(10)
                              || encode(pub, 'hex'), 'UTF8');
        IF NOT pumpctl.ed25519_verify(cur.public_key, message,
                                      decode(coalesce(payload->>'rotation_signature', ''), 'hex')) THEN
            RAISE EXCEPTION 'pumpctl fleet: record % of journal % rotates to key % but the rotation signature does not verify with key %',
                at_seq, journal, left(encode(sha256(pub), 'hex'), 16), cur.key_id
                USING ERRCODE = 'PF003';
        END IF;
        vouched := cur.vouched;
    END IF;
    INSERT INTO pumpctl.keys (journal_id, from_seq, key_id, public_key, vouched)
    VALUES (journal, at_seq, left(encode(sha256(pub), 'hex'), 16), pub, vouched);
END $$;

CREATE FUNCTION pumpctl.records_before_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pumpctl AS $$
DECLARE
    held text;
    expected text;
    doc jsonb;
BEGIN
    PERFORM pumpctl.lock_journal(NEW.journal_id);
    SELECT r.hash INTO held FROM pumpctl.records AS r
     WHERE r.journal_id = NEW.journal_id AND r.seq = NEW.seq;
    IF FOUND THEN
        IF held = NEW.hash THEN
            RETURN NULL;  -- already held: a replayed batch changes nothing
        END IF;
        RAISE EXCEPTION 'pumpctl fleet: fork: journal % already has a different record % (hash % here, % offered)',
            NEW.journal_id, NEW.seq, held, NEW.hash USING ERRCODE = 'PF002';
    END IF;
    IF NEW.seq = 1 THEN
        expected := repeat('0', 64);
        INSERT INTO pumpctl.journals (journal_id) VALUES (NEW.journal_id) ON CONFLICT DO NOTHING;
    ELSE
        SELECT r.hash INTO expected FROM pumpctl.records AS r
         WHERE r.journal_id = NEW.journal_id AND r.seq = NEW.seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'pumpctl fleet: journal % record % arrives before record %: records are shipped in order',
                NEW.journal_id, NEW.seq, NEW.seq - 1 USING ERRCODE = 'PF001';
        END IF;
    END IF;
    IF NEW.prev_hash IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'pumpctl fleet: fork: journal % record % links to %, but record % has hash %',
            NEW.journal_id, NEW.seq, NEW.prev_hash, NEW.seq - 1, expected USING ERRCODE = 'PF002';
    END IF;
    IF encode(sha256(decode(NEW.prev_hash, 'hex') || convert_to(NEW.body, 'UTF8')), 'hex')
       IS DISTINCT FROM NEW.hash THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % record %: its hash does not match its content',
            NEW.journal_id, NEW.seq USING ERRCODE = 'PF001';
    END IF;
    -- The typed columns come from the hashed bytes, so they cannot disagree with them.
    doc := NEW.body::jsonb;
    NEW.kind := doc->>'kind';
    NEW.wall_utc := (doc->>'wall_utc')::timestamptz;
    IF NEW.kind IN ('key.enrolled', 'key.rotated') THEN
        PERFORM pumpctl.take_key(NEW.journal_id, NEW.seq, NEW.kind, doc->'payload');
    ELSIF NEW.kind = 'daemon.start' THEN
        UPDATE pumpctl.journals AS j SET
            subject_id = coalesce(doc->'payload'->'subject'->>'id', j.subject_id),
            pump_label = coalesce(doc->'payload'->'pump'->>'label', j.pump_label),
            study = coalesce(doc->'payload'->'subject'->>'study', j.study)
         WHERE j.journal_id = NEW.journal_id;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION pumpctl.records_signed_at_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pumpctl AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pumpctl.journals AS j
                    WHERE j.journal_id = NEW.journal_id AND j.signed_seq >= NEW.seq) THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % record % is not covered by a head signed with the journal''s key',
            NEW.journal_id, NEW.seq USING ERRCODE = 'PF004';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION pumpctl.heads_before_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pumpctl AS $$
DECLARE
    held record;
    at_seq text;
    k record;
    message bytea;
BEGIN
    PERFORM pumpctl.lock_journal(NEW.journal_id);
    SELECT r.hash, r.wall_utc INTO held FROM pumpctl.records AS r
     WHERE r.journal_id = NEW.journal_id AND r.seq = NEW.seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % head % names a record the server does not hold',
            NEW.journal_id, NEW.seq USING ERRCODE = 'PF001';
    END IF;
    IF held.hash IS DISTINCT FROM NEW.hash THEN
        RAISE EXCEPTION 'pumpctl fleet: fork: journal % head % has hash % but the record held has %',
            NEW.journal_id, NEW.seq, NEW.hash, held.hash USING ERRCODE = 'PF002';
    END IF;
    IF EXISTS (SELECT 1 FROM pumpctl.heads AS h
                WHERE h.journal_id = NEW.journal_id AND h.seq = NEW.seq) THEN
        RETURN NULL;  -- this head is held already
    END IF;
    SELECT * INTO k FROM pumpctl.keys AS x
     WHERE x.journal_id = NEW.journal_id AND x.from_seq <= NEW.seq
     ORDER BY x.from_seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % has no key at record %: it was never enrolled',
            NEW.journal_id, NEW.seq USING ERRCODE = 'PF003';
    END IF;
    IF k.key_id IS DISTINCT FROM NEW.key_id THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % head % is signed by key %, but key % is in force there',
            NEW.journal_id, NEW.seq, NEW.key_id, k.key_id USING ERRCODE = 'PF003';
    END IF;
    IF NOT k.vouched THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % replaced its key by % at record % without the old key''s signature; check it on the host (pumpctl keys show), then accept it: pumpctl fleet accept-key % %',
            NEW.journal_id, k.key_id, k.from_seq, NEW.journal_id, k.key_id USING ERRCODE = 'PF003';
    END IF;
    at_seq := NEW.seq::text;
    message := convert_to('pumpctl.head/1' || chr(10) || NEW.journal_id || chr(10) || at_seq
                          || chr(10) || NEW.hash, 'UTF8');
    IF NOT pumpctl.ed25519_verify(k.public_key, message, NEW.signature) THEN
        RAISE EXCEPTION 'pumpctl fleet: journal % head % : the signature does not verify with key %',
            NEW.journal_id, NEW.seq, k.key_id USING ERRCODE = 'PF003';
    END IF;
    UPDATE pumpctl.journals AS j SET
        signed_seq = NEW.seq, signed_hash = NEW.hash, signed_key_id = NEW.key_id,
        last_wall = held.wall_utc, last_shipped = now()
     WHERE j.journal_id = NEW.journal_id AND j.signed_seq < NEW.seq;
    RETURN NEW;
END $$;

CREATE FUNCTION pumpctl.append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pumpctl fleet: % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'PF005';
END $$;

CREATE TRIGGER records_verify BEFORE INSERT ON pumpctl.records
    FOR EACH ROW EXECUTE FUNCTION pumpctl.records_before_insert();
CREATE CONSTRAINT TRIGGER records_signed AFTER INSERT ON pumpctl.records
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION pumpctl.records_signed_at_commit();
CREATE TRIGGER heads_verify BEFORE INSERT ON pumpctl.heads
    FOR EACH ROW EXECUTE FUNCTION pumpctl.heads_before_insert();
CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON pumpctl.records
    FOR EACH ROW EXECUTE FUNCTION pumpctl.append_only();
CREATE TRIGGER heads_append_only BEFORE UPDATE OR DELETE ON pumpctl.heads
    FOR EACH ROW EXECUTE FUNCTION pumpctl.append_only();
CREATE TRIGGER refusals_append_only BEFORE UPDATE OR DELETE ON pumpctl.refusals
    FOR EACH ROW EXECUTE FUNCTION pumpctl.append_only();
CREATE TRIGGER keys_append_only BEFORE DELETE ON pumpctl.keys
    FOR EACH ROW EXECUTE FUNCTION pumpctl.append_only();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON pumpctl.records
    FOR EACH STATEMENT EXECUTE FUNCTION pumpctl.append_only();
CREATE TRIGGER heads_no_truncate BEFORE TRUNCATE ON pumpctl.heads
    FOR EACH STATEMENT EXECUTE FUNCTION pumpctl.append_only();

-- An administrator vouches for a key that replaced a lost one (after checking it on the host).
CREATE FUNCTION pumpctl.accept_key(journal text, accepted_key_id text, who text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF accepted_key_id !~ '^[0-9a-f]{16}$' THEN
        RAISE EXCEPTION 'pumpctl fleet: key id % is not 16 hex digits (pumpctl keys show prints it)',
            accepted_key_id USING ERRCODE = 'PF003';
    END IF;
    INSERT INTO pumpctl.accepted_keys (journal_id, key_id, accepted_by)
    VALUES (journal, accepted_key_id, who) ON CONFLICT DO NOTHING;
    UPDATE pumpctl.keys AS k SET vouched = true
     WHERE k.journal_id = journal AND k.key_id = accepted_key_id AND NOT k.vouched;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA pumpctl FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pumpctl FROM PUBLIC;

INSERT INTO pumpctl.schema_info (name, version) VALUES ('pumpctl.fleet', 1);
