-- The researcher's interface: stable views over crawls (documented one by one in docs/sql.md).
-- Every view is per crawl (a crawl_id column); most come at three units in a `unit` column:
-- 'domain' (input domains), 'mx_host' (MX names), 'ip' (probed addresses, ip + port).
-- Names: views start with v_, functions with mxcensus_, fixed lookup tables with mxcensus_.
-- Views and columns are a public interface: change them only additively.

-- The MX name's registrable domain (Public Suffix List, libpsl), filled in by the ingestion of
-- domain results; NULL on rows stored before this migration.
ALTER TABLE mx_host ADD COLUMN registrable_domain text;

-- Fixed lookup tables: the steps of the funnel, the certificate verdicts in precedence order,
-- the DH size buckets, the failure classes. Views join them so that a zero count is a row.
CREATE TABLE mxcensus_funnel_step (
  step_no     integer PRIMARY KEY,
  step        text NOT NULL UNIQUE,
  description text NOT NULL
);
INSERT INTO mxcensus_funnel_step VALUES
  (1, 'input', 'in the crawl (domains: input list; mx_host: MX names; ip: probed addresses)'),
  (2, 'has_mx', 'publishes MX records (or has an implicit MX: an address at the domain)'),
  (3, 'mx_resolves', 'at least one MX name has an address'),
  (4, 'tcp_open', 'TCP connect succeeded'),
  (5, 'greeting_220', '2xx greeting'),
  (6, 'ehlo_ok', 'EHLO (or the HELO fallback) accepted'),
  (7, 'starttls_offered', 'STARTTLS advertised and sent'),
  (8, 'starttls_220', '220 reply to STARTTLS'),
  (9, 'handshake_ok', 'TLS handshake completed');

CREATE TABLE mxcensus_cert_verdict (
  rank        integer PRIMARY KEY,
  verdict     text NOT NULL UNIQUE,
  description text NOT NULL
);
INSERT INTO mxcensus_cert_verdict VALUES
  (1, 'valid', 'chain valid and the leaf matches the MX name'),
  (2, 'valid_name_mismatch', 'chain valid, the leaf does not match the MX name'),
  (3, 'self_signed', 'self-signed leaf'),
  (4, 'untrusted_chain', 'untrusted root or incomplete chain'),
  (5, 'expired', 'a certificate of the chain has expired'),
  (6, 'not_yet_valid', 'a certificate of the chain is not yet valid'),
  (7, 'weak_key_or_signature', 'key too small or weak signature algorithm'),
  (8, 'other_invalid', 'chain invalid for another reason');

CREATE TABLE mxcensus_dh_bucket (
  bucket_no   integer PRIMARY KEY,
  bucket      text NOT NULL UNIQUE,
  min_bits    integer NOT NULL,
  max_bits    integer NOT NULL,
  logjam      boolean NOT NULL  -- within reach of the Logjam precomputation (<= 1024 bits)
);
INSERT INTO mxcensus_dh_bucket VALUES
  (1, '<=512', 0, 512, true), (2, '768', 513, 768, true), (3, '1024', 769, 1024, true),
  (4, '1536', 1025, 1536, false), (5, '2048', 1537, 2048, false),
  (6, '>=3072', 2049, 2147483647, false);

CREATE TABLE mxcensus_failure_class (
  class_no    integer PRIMARY KEY,
  class       text NOT NULL UNIQUE,
  description text NOT NULL
);
INSERT INTO mxcensus_failure_class VALUES
  (1, 'refused', 'STARTTLS answered with a non-220 reply (e.g. 454)'),
  (2, 'alert', 'the server sent a TLS alert'),
  (3, 'timeout', 'no answer in time after STARTTLS'),
  (4, 'garbage', 'the server sent something that is not TLS'),
  (5, 'closed', 'the server closed the connection during STARTTLS or the handshake');

CREATE TABLE mxcensus_unit (
  unit_no     integer PRIMARY KEY,
  unit        text NOT NULL UNIQUE,
  description text NOT NULL
);
INSERT INTO mxcensus_unit VALUES
  (1, 'domain', 'input domains of the crawl'),
  (2, 'mx_host', 'MX host names'),
  (3, 'ip', 'probed addresses (ip and port)');

-- The network of an address: its /24 (IPv4) or /48 (IPv6).
CREATE FUNCTION mxcensus_network(ip inet) RETURNS cidr
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 48 END))
$$;

-- One primary certificate verdict, by fixed precedence (mxcensus_cert_verdict.rank). NULL when
-- nothing was verified. verify_error is OpenSSL's text of the first error.
CREATE FUNCTION mxcensus_cert_verdict(chain_valid boolean, name_match boolean,
                                      verify_error text, self_signed boolean, key_type text,
                                      key_bits integer, sig_alg text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN chain_valid IS NULL THEN NULL
    WHEN chain_valid AND coalesce(name_match, false) THEN 'valid'
    WHEN chain_valid THEN 'valid_name_mismatch'
    WHEN verify_error ILIKE 'self%signed certificate' OR
         (coalesce(self_signed, false) AND verify_error IS NULL) THEN 'self_signed'
    WHEN verify_error ILIKE 'unable to get %' OR verify_error ILIKE '%in certificate chain'
      OR verify_error ILIKE 'unable to verify the first certificate'
      OR verify_error ILIKE '%untrusted%' OR verify_error ILIKE 'invalid CA certificate'
      OR verify_error ILIKE 'certificate chain too long' THEN 'untrusted_chain'
    WHEN verify_error ILIKE '%has expired%' THEN 'expired'
    WHEN verify_error ILIKE '%not yet valid%' THEN 'not_yet_valid'
    WHEN verify_error ILIKE '%too weak%' OR verify_error ILIKE '%too small%'
      OR (key_type = 'rsa' AND key_bits < 2048) OR sig_alg ILIKE '%md5%'
      OR sig_alg ILIKE '%sha1%' THEN 'weak_key_or_signature'
    ELSE 'other_invalid'
  END
$$;

-- The key exchange of a negotiated handshake: ECDHE, DHE or RSA (no forward secrecy).
CREATE FUNCTION mxcensus_key_exchange(tls_version text, tls_cipher text, tls_group text,
                                      dh_bits integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN tls_version IS NULL THEN NULL
    WHEN dh_bits IS NOT NULL OR tls_group ILIKE 'ffdhe%' THEN 'DHE'
    WHEN tls_group IS NOT NULL OR tls_cipher LIKE 'ECDHE-%' OR tls_version = 'TLSv1.3' THEN 'ECDHE'
    WHEN tls_cipher LIKE 'DHE-%' OR tls_cipher LIKE 'EDH-%' THEN 'DHE'
    ELSE 'RSA'
  END
$$;

-- The bulk cipher class of an OpenSSL cipher name.
CREATE FUNCTION mxcensus_cipher_class(tls_cipher text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN tls_cipher IS NULL THEN NULL
    WHEN tls_cipher ILIKE '%CHACHA20%' THEN 'chacha20_poly1305'
    WHEN tls_cipher ILIKE '%GCM%' THEN 'aes_gcm'
    WHEN tls_cipher ILIKE '%CCM%' THEN 'aes_ccm'
    WHEN tls_cipher ILIKE '%NULL%' THEN 'null'
    WHEN tls_cipher ILIKE 'EXP%' THEN 'export'
    WHEN tls_cipher ILIKE '%RC4%' THEN 'rc4'
    WHEN tls_cipher ILIKE '%DES-CBC3%' OR tls_cipher ILIKE '%3DES%' THEN '3des'
    WHEN tls_cipher ILIKE '%DES%' THEN 'des'
    ELSE 'cbc'
  END
$$;

-- The MTA software named by the greeting or the EHLO reply.
CREATE FUNCTION mxcensus_mta_software(banner text, ehlo text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN banner IS NULL THEN 'unknown'
    WHEN banner ILIKE '%postfix%' THEN 'postfix'
    WHEN banner ILIKE '%exim%' THEN 'exim'
    WHEN banner ILIKE '%sendmail%' THEN 'sendmail'
    WHEN banner ILIKE '%microsoft%' OR
         array_to_string(ehlo, ' ') ~* '(^| )(X-EXPS|XEXCH50|X-ANONYMOUSTLS)( |$)' THEN 'microsoft'
    WHEN banner ILIKE '%qmail%' THEN 'qmail'
    ELSE 'other'
  END
$$;

-- One row per probe, with the funnel flags (each implies the one before), the certificate
-- verdict, the negotiated parameters and, when no handshake completed, why.
CREATE VIEW v_probe_facts AS
SELECT p.crawl_id, p.ip, p.port, p.mx_name,
       mxcensus_network(p.ip) AS network,
       coalesce(h.registrable_domain, p.mx_name) AS provider,
       p.outcome, p.stage,
       f.tcp_open, f.greeting_220, f.ehlo_ok, f.starttls_offered, f.starttls_220,
       f.handshake_ok,
       CASE WHEN f.handshake_ok THEN
         mxcensus_cert_verdict(p.chain_valid, p.name_match, p.verify_error, c.self_signed,
                               c.key_type, c.key_bits, c.sig_alg) END AS cert_verdict,
       CASE WHEN f.handshake_ok THEN p.tls_version END AS tls_version,
       CASE WHEN f.handshake_ok THEN p.tls_cipher END AS tls_cipher,
       CASE WHEN f.handshake_ok THEN p.tls_group END AS tls_group,
       CASE WHEN f.handshake_ok THEN p.dh_bits END AS dh_bits,
       CASE WHEN f.handshake_ok THEN
         mxcensus_key_exchange(p.tls_version, p.tls_cipher, p.tls_group, p.dh_bits) END
         AS key_exchange,
       CASE WHEN f.handshake_ok THEN mxcensus_cipher_class(p.tls_cipher) END AS cipher_class,
       CASE
         WHEN f.handshake_ok THEN NULL
         WHEN NOT f.tcp_open THEN 'unreachable'
         WHEN NOT f.greeting_220 THEN
           CASE p.outcome WHEN 'banner_rejected' THEN 'greeting_rejected'
                          WHEN 'timeout' THEN 'timeout' WHEN 'closed' THEN 'closed'
                          ELSE 'garbage' END
         WHEN NOT f.ehlo_ok THEN
           CASE p.outcome WHEN 'ehlo_rejected' THEN 'ehlo_rejected'
                          WHEN 'timeout' THEN 'timeout' WHEN 'closed' THEN 'closed'
                          ELSE 'garbage' END
         WHEN p.outcome = 'starttls_stripped' THEN 'stripped'
         WHEN NOT f.starttls_offered THEN 'not_offered'
         WHEN p.outcome = 'starttls_refused' THEN 'refused'
         WHEN p.outcome = 'timeout' THEN 'timeout'
         WHEN p.outcome = 'closed' THEN 'closed'
         WHEN NOT f.starttls_220 THEN 'refused'
         -- tls_alert also carries OpenSSL's reason for a failure that was no alert
         -- ("wrong version number": the server did not speak TLS).
         WHEN p.tls_alert ILIKE '%alert%' THEN 'alert'
         WHEN p.error ILIKE '%eof%' OR p.error ILIKE '%closed%' THEN 'closed'
         ELSE 'garbage'
       END AS no_tls_reason,
       mxcensus_mta_software(p.banner, p.ehlo) AS software,
       p.outcome = 'starttls_stripped' AS starttls_stripped,
       p.pipelined_after_starttls AS starttls_injected,
       p.banner, p.tls_alert, p.error, p.leaf_sha256
FROM probe p
LEFT JOIN mx_host h ON h.crawl_id = p.crawl_id AND h.mx_name = p.mx_name
LEFT JOIN certificate c ON c.sha256 = p.leaf_sha256
CROSS JOIN LATERAL (
  SELECT p.outcome = 'starttls_ok' OR coalesce(p.tls_handshake_complete, false) AS handshake_ok
) f5
CROSS JOIN LATERAL (
  SELECT f5.handshake_ok OR p.outcome = 'tls_failed' OR coalesce(p.code_starttls = 220, false)
         OR p.stage IN ('tls', 'ehlo_tls') AS starttls_220
) f4
CROSS JOIN LATERAL (
  SELECT f4.starttls_220 OR p.outcome = 'starttls_refused' OR p.code_starttls IS NOT NULL
         OR p.stage = 'starttls' AS starttls_offered
) f3
CROSS JOIN LATERAL (
  SELECT f3.starttls_offered OR p.outcome IN ('no_starttls', 'starttls_stripped')
         OR coalesce(p.code_ehlo BETWEEN 200 AND 299, false)
         OR coalesce(p.code_helo BETWEEN 200 AND 299, false) AS ehlo_ok
) f2
CROSS JOIN LATERAL (
  SELECT f2.ehlo_ok OR coalesce(p.code_banner BETWEEN 200 AND 299, false)
         OR p.stage IN ('ehlo', 'helo') AS greeting_220
) f1
CROSS JOIN LATERAL (
  SELECT f1.greeting_220 OR (p.stage <> 'connect' AND
         p.outcome NOT IN ('connect_refused', 'connect_failed', 'blocked')) AS tcp_open
) f0
CROSS JOIN LATERAL (
  SELECT f0.tcp_open, f1.greeting_220, f2.ehlo_ok, f3.starttls_offered, f4.starttls_220,
         f5.handshake_ok
) f;

-- One row per probed address (ip, port): a stage counts as reached when any probe of the
-- address (one per MX name it serves) reached it; the verdict is the best by precedence.
CREATE VIEW v_ip_facts AS
SELECT crawl_id, ip, port, network,
       min(mx_name) AS mx_name,
       min(provider) AS provider,
       bool_or(tcp_open) AS tcp_open, bool_or(greeting_220) AS greeting_220,
       bool_or(ehlo_ok) AS ehlo_ok, bool_or(starttls_offered) AS starttls_offered,
       bool_or(starttls_220) AS starttls_220, bool_or(handshake_ok) AS handshake_ok,
       (SELECT v.verdict FROM mxcensus_cert_verdict v
        WHERE v.verdict = ANY (array_agg(pf.cert_verdict)) ORDER BY v.rank LIMIT 1) AS cert_verdict,
       (array_agg(tls_version ORDER BY handshake_ok DESC, mx_name))[1] AS tls_version,
       (array_agg(key_exchange ORDER BY handshake_ok DESC, mx_name))[1] AS key_exchange,
       (array_agg(cipher_class ORDER BY handshake_ok DESC, mx_name))[1] AS cipher_class,
       (array_agg(tls_group ORDER BY handshake_ok DESC, mx_name))[1] AS tls_group,
       (array_agg(dh_bits ORDER BY handshake_ok DESC, mx_name))[1] AS dh_bits,
       (array_agg(no_tls_reason ORDER BY mx_name))[1] AS no_tls_reason,
       (array_agg(software ORDER BY mx_name))[1] AS software,
       bool_or(starttls_stripped) AS starttls_stripped,
       bool_or(starttls_injected) AS starttls_injected,
       (array_agg(banner ORDER BY mx_name))[1] AS banner
FROM v_probe_facts pf
GROUP BY crawl_id, ip, port, network;

-- One row per MX name of a crawl: address, provider, DANE, and the stages reached by any of
-- its addresses (NULL flags: nothing probed). all_handshake_ok: every address completed TLS.
CREATE VIEW v_mx_host_facts AS
SELECT h.crawl_id, h.mx_name,
       coalesce(h.registrable_domain, h.mx_name) AS provider,
       h.status, h.cname,
       cardinality(h.ipv4) + cardinality(h.ipv6) > 0 AS has_address,
       jsonb_array_length(h.tlsa) > 0 AS dane_tlsa,
       jsonb_array_length(h.tlsa) > 0 AND h.tlsa_ad AS dane_tlsa_ad,
       a.ips_probed,
       coalesce(a.tcp_open, false) AS tcp_open,
       coalesce(a.greeting_220, false) AS greeting_220,
       coalesce(a.ehlo_ok, false) AS ehlo_ok,
       coalesce(a.starttls_offered, false) AS starttls_offered,
       coalesce(a.starttls_220, false) AS starttls_220,
       coalesce(a.handshake_ok, false) AS handshake_ok,
       a.all_handshake_ok, a.all_valid, a.cert_verdict, a.tls_version, a.key_exchange,
       a.cipher_class, a.tls_group, a.dh_bits, a.no_tls_reason, a.software,
       coalesce(a.starttls_stripped, false) AS starttls_stripped,
       coalesce(a.starttls_injected, false) AS starttls_injected, a.banner
FROM mx_host h
LEFT JOIN (
  SELECT pf.crawl_id, pf.mx_name, count(*) AS ips_probed,
         bool_or(pf.tcp_open) AS tcp_open, bool_or(pf.greeting_220) AS greeting_220,
         bool_or(pf.ehlo_ok) AS ehlo_ok, bool_or(pf.starttls_offered) AS starttls_offered,
         bool_or(pf.starttls_220) AS starttls_220, bool_or(pf.handshake_ok) AS handshake_ok,
         bool_and(pf.handshake_ok) AS all_handshake_ok,
         bool_and(coalesce(pf.cert_verdict = 'valid', false)) AS all_valid,
         (SELECT v.verdict FROM mxcensus_cert_verdict v
          WHERE v.verdict = ANY (array_agg(pf.cert_verdict)) ORDER BY v.rank LIMIT 1)
           AS cert_verdict,
         (array_agg(pf.tls_version ORDER BY pf.handshake_ok DESC, pf.ip))[1] AS tls_version,
         (array_agg(pf.key_exchange ORDER BY pf.handshake_ok DESC, pf.ip))[1] AS key_exchange,
         (array_agg(pf.cipher_class ORDER BY pf.handshake_ok DESC, pf.ip))[1] AS cipher_class,
         (array_agg(pf.tls_group ORDER BY pf.handshake_ok DESC, pf.ip))[1] AS tls_group,
         (array_agg(pf.dh_bits ORDER BY pf.handshake_ok DESC, pf.ip))[1] AS dh_bits,
         (array_agg(pf.no_tls_reason ORDER BY pf.ip))[1] AS no_tls_reason,
         (array_agg(pf.software ORDER BY pf.ip))[1] AS software,
         bool_or(pf.starttls_stripped) AS starttls_stripped,
         bool_or(pf.starttls_injected) AS starttls_injected,
         (array_agg(pf.banner ORDER BY pf.ip))[1] AS banner
  FROM v_probe_facts pf
  GROUP BY pf.crawl_id, pf.mx_name
) a ON a.crawl_id = h.crawl_id AND a.mx_name = h.mx_name;

-- One row per input domain: DNS status, provider (registrable domain of the most preferred MX
-- that has an address), the stages reached by any of its MX hosts, whether every probed MX
-- address completed TLS (all_mx_starttls) with a valid certificate (all_mx_valid), and the
-- policy layer.
CREATE VIEW v_domain_facts AS
SELECT d.crawl_id, d.domain, d.rank, d.status, d.null_mx, d.implicit_mx,
       m.primary_mx,
       m.provider,
       coalesce(m.mx_count, 0) AS mx_count,
       (d.status IN ('ok', 'no_address') OR coalesce(m.mx_count, 0) > 0) AS has_mx,
       coalesce(m.mx_resolves, false) AS mx_resolves,
       coalesce(m.tcp_open, false) AS tcp_open,
       coalesce(m.greeting_220, false) AS greeting_220,
       coalesce(m.ehlo_ok, false) AS ehlo_ok,
       coalesce(m.starttls_offered, false) AS starttls_offered,
       coalesce(m.starttls_220, false) AS starttls_220,
       coalesce(m.handshake_ok, false) AS handshake_ok,
       coalesce(m.all_mx_starttls, false) AS all_mx_starttls,
       coalesce(m.all_mx_valid, false) AS all_mx_valid,
       m.cert_verdict,
       d.mta_sts IS NOT NULL AS mta_sts,
       NULL::text AS mta_sts_mode,  -- needs the HTTPS policy file, which is not fetched
       d.tls_rpt IS NOT NULL AS tls_rpt,
       d.spf IS NOT NULL AS spf,
       d.dmarc IS NOT NULL AS dmarc,
       d.dmarc_policy,
       coalesce(m.dane_tlsa, false) AS dane_tlsa,
       coalesce(m.dane_tlsa_ad, false) AS dane_tlsa_ad
FROM crawl_domain d
LEFT JOIN (
  SELECT dm.crawl_id, dm.domain, count(*) AS mx_count,
         (array_agg(hf.mx_name ORDER BY hf.has_address DESC, dm.preference, dm.mx_name))[1]
           AS primary_mx,
         (array_agg(hf.provider ORDER BY hf.has_address DESC, dm.preference, dm.mx_name))[1]
           AS provider,
         bool_or(hf.has_address) AS mx_resolves,
         bool_or(hf.tcp_open) AS tcp_open, bool_or(hf.greeting_220) AS greeting_220,
         bool_or(hf.ehlo_ok) AS ehlo_ok, bool_or(hf.starttls_offered) AS starttls_offered,
         bool_or(hf.starttls_220) AS starttls_220, bool_or(hf.handshake_ok) AS handshake_ok,
         bool_and(hf.all_handshake_ok) FILTER (WHERE hf.ips_probed > 0) AS all_mx_starttls,
         bool_and(hf.all_valid) FILTER (WHERE hf.ips_probed > 0) AS all_mx_valid,
         (SELECT v.verdict FROM mxcensus_cert_verdict v
          WHERE v.verdict = ANY (array_agg(hf.cert_verdict)) ORDER BY v.rank LIMIT 1)
           AS cert_verdict,
         bool_or(hf.dane_tlsa) AS dane_tlsa, bool_or(hf.dane_tlsa_ad) AS dane_tlsa_ad
  FROM domain_mx dm
  JOIN v_mx_host_facts hf ON hf.crawl_id = dm.crawl_id AND hf.mx_name = dm.mx_name
  GROUP BY dm.crawl_id, dm.domain
) m ON m.crawl_id = d.crawl_id AND m.domain = d.domain;

-- 1. The funnel, per crawl and unit: how many reached each step, as a share of the unit's
-- first step (pct_of_input) and of the step before (pct_of_previous). The mx_host unit has no
-- has_mx step; the ip unit starts at tcp_open (every probed address resolved).
CREATE VIEW v_funnel AS
WITH counts AS (
  SELECT crawl_id, 'domain' AS unit, s.step_no, s.n
  FROM (SELECT crawl_id, count(*) AS c1, count(*) FILTER (WHERE has_mx) AS c2,
               count(*) FILTER (WHERE mx_resolves) AS c3, count(*) FILTER (WHERE tcp_open) AS c4,
               count(*) FILTER (WHERE greeting_220) AS c5, count(*) FILTER (WHERE ehlo_ok) AS c6,
               count(*) FILTER (WHERE starttls_offered) AS c7,
               count(*) FILTER (WHERE starttls_220) AS c8,
               count(*) FILTER (WHERE handshake_ok) AS c9
        FROM v_domain_facts GROUP BY crawl_id) a
  CROSS JOIN LATERAL (VALUES (1, c1), (2, c2), (3, c3), (4, c4), (5, c5), (6, c6), (7, c7),
                             (8, c8), (9, c9)) s(step_no, n)
  UNION ALL
  SELECT crawl_id, 'mx_host', s.step_no, s.n
  FROM (SELECT crawl_id, count(*) AS c1, count(*) FILTER (WHERE has_address) AS c3,
               count(*) FILTER (WHERE tcp_open) AS c4, count(*) FILTER (WHERE greeting_220) AS c5,
               count(*) FILTER (WHERE ehlo_ok) AS c6,
               count(*) FILTER (WHERE starttls_offered) AS c7,
               count(*) FILTER (WHERE starttls_220) AS c8,
               count(*) FILTER (WHERE handshake_ok) AS c9
        FROM v_mx_host_facts GROUP BY crawl_id) a
  CROSS JOIN LATERAL (VALUES (1, c1), (3, c3), (4, c4), (5, c5), (6, c6), (7, c7), (8, c8),
                             (9, c9)) s(step_no, n)
  UNION ALL
  SELECT crawl_id, 'ip', s.step_no, s.n
  FROM (SELECT crawl_id, count(*) AS c1, count(*) FILTER (WHERE tcp_open) AS c4,
               count(*) FILTER (WHERE greeting_220) AS c5, count(*) FILTER (WHERE ehlo_ok) AS c6,
               count(*) FILTER (WHERE starttls_offered) AS c7,
               count(*) FILTER (WHERE starttls_220) AS c8,
               count(*) FILTER (WHERE handshake_ok) AS c9
        FROM v_ip_facts GROUP BY crawl_id) a
  CROSS JOIN LATERAL (VALUES (1, c1), (4, c4), (5, c5), (6, c6), (7, c7), (8, c8), (9, c9))
    s(step_no, n)
)
SELECT c.crawl_id, c.unit, c.step_no, st.step, c.n AS count,
       round(100.0 * c.n / nullif(first_value(c.n) OVER w, 0), 2) AS pct_of_input,
       round(100.0 * c.n / nullif(lag(c.n) OVER w, 0), 2) AS pct_of_previous
FROM counts c JOIN mxcensus_funnel_step st USING (step_no)
WINDOW w AS (PARTITION BY c.crawl_id, c.unit ORDER BY c.step_no);

-- The units with a per-crawl item list that carries TLS facts (certificate, TLS parameters).
CREATE VIEW v_tls_items AS
SELECT crawl_id, 'domain' AS unit, domain AS item, handshake_ok, cert_verdict,
       NULL::text AS tls_version, NULL::text AS key_exchange, NULL::text AS cipher_class,
       NULL::text AS tls_group, NULL::integer AS dh_bits, starttls_offered,
       NULL::text AS no_tls_reason
FROM v_domain_facts
UNION ALL
SELECT crawl_id, 'mx_host', mx_name, handshake_ok, cert_verdict, tls_version, key_exchange,
       cipher_class, tls_group, dh_bits, starttls_offered, no_tls_reason
FROM v_mx_host_facts
UNION ALL
SELECT crawl_id, 'ip', host(ip) || ':' || port, handshake_ok, cert_verdict, tls_version,
       key_exchange, cipher_class, tls_group, dh_bits, starttls_offered, no_tls_reason
FROM v_ip_facts;

-- 2. Certificate verdicts of completed handshakes, one primary verdict per item (the best by
-- precedence over its addresses / MX hosts), every verdict a row (zero counts included).
CREATE VIEW v_cert_verdicts AS
WITH n AS (
  SELECT crawl_id, unit, cert_verdict, count(*) AS n
  FROM v_tls_items WHERE cert_verdict IS NOT NULL GROUP BY 1, 2, 3
)
SELECT c.crawl_id, u.unit, v.rank, v.verdict, coalesce(n.n, 0) AS count,
       round(100.0 * coalesce(n.n, 0) /
             nullif(sum(coalesce(n.n, 0)) OVER (PARTITION BY c.crawl_id, u.unit), 0), 2) AS pct
FROM crawl c CROSS JOIN mxcensus_unit u CROSS JOIN mxcensus_cert_verdict v
LEFT JOIN n ON n.crawl_id = c.crawl_id AND n.unit = u.unit AND n.cert_verdict = v.verdict;

-- 3. Negotiated TLS: version x key exchange x cipher class of completed handshakes (MX hosts:
-- the parameters of their first address that completed one).
CREATE VIEW v_tls_negotiated AS
SELECT crawl_id, unit, tls_version, key_exchange, cipher_class,
       key_exchange IN ('ECDHE', 'DHE') AS forward_secrecy, count(*) AS count,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY crawl_id, unit), 2) AS pct
FROM v_tls_items
WHERE handshake_ok AND unit <> 'domain'
GROUP BY crawl_id, unit, tls_version, key_exchange, cipher_class;

-- 3b. The share of completed handshakes with forward secrecy, and of each TLS version.
CREATE VIEW v_tls_summary AS
SELECT crawl_id, unit, count(*) AS handshakes,
       count(*) FILTER (WHERE key_exchange IN ('ECDHE', 'DHE')) AS forward_secrecy,
       round(100.0 * count(*) FILTER (WHERE key_exchange IN ('ECDHE', 'DHE')) / count(*), 2)
         AS pct_forward_secrecy,
       count(*) FILTER (WHERE tls_version = 'TLSv1.3') AS tls13,
       count(*) FILTER (WHERE tls_version = 'TLSv1.2') AS tls12,
       count(*) FILTER (WHERE tls_version IN ('TLSv1.1', 'TLSv1', 'SSLv3')) AS tls_legacy,
       round(100.0 * count(*) FILTER (WHERE tls_version = 'TLSv1.3') / count(*), 2) AS pct_tls13
FROM v_tls_items
WHERE handshake_ok AND unit <> 'domain'
GROUP BY crawl_id, unit;

-- 4. DH group sizes of DHE handshakes (every bucket a row) and Logjam exposure.
CREATE VIEW v_dh_sizes AS
WITH n AS (
  SELECT t.crawl_id, t.unit, b.bucket_no, count(*) AS n
  FROM v_tls_items t JOIN mxcensus_dh_bucket b ON t.dh_bits BETWEEN b.min_bits AND b.max_bits
  WHERE t.handshake_ok AND t.key_exchange = 'DHE' AND t.unit <> 'domain'
  GROUP BY 1, 2, 3
)
SELECT c.crawl_id, u.unit, b.bucket_no, b.bucket, b.min_bits, b.max_bits, b.logjam,
       coalesce(n.n, 0) AS count,
       round(100.0 * coalesce(n.n, 0) /
             nullif(sum(coalesce(n.n, 0)) OVER (PARTITION BY c.crawl_id, u.unit), 0), 2) AS pct
FROM crawl c CROSS JOIN mxcensus_unit u CROSS JOIN mxcensus_dh_bucket b
LEFT JOIN n ON n.crawl_id = c.crawl_id AND n.unit = u.unit AND n.bucket_no = b.bucket_no
WHERE u.unit <> 'domain';

-- 4b. ECDHE groups of ECDHE handshakes.
CREATE VIEW v_ecdhe_groups AS
SELECT crawl_id, unit, coalesce(tls_group, 'unknown') AS tls_group, count(*) AS count,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY crawl_id, unit), 2) AS pct
FROM v_tls_items
WHERE handshake_ok AND key_exchange = 'ECDHE' AND unit <> 'domain'
GROUP BY crawl_id, unit, coalesce(tls_group, 'unknown');

-- 5. Why hosts that offer STARTTLS fail (every class a row).
CREATE VIEW v_starttls_failures AS
WITH n AS (
  SELECT crawl_id, unit, no_tls_reason, count(*) AS n
  FROM v_tls_items
  WHERE starttls_offered AND NOT handshake_ok AND unit <> 'domain'
  GROUP BY 1, 2, 3
)
SELECT c.crawl_id, u.unit, f.class_no, f.class AS failure_class, coalesce(n.n, 0) AS count,
       round(100.0 * coalesce(n.n, 0) /
             nullif(sum(coalesce(n.n, 0)) OVER (PARTITION BY c.crawl_id, u.unit), 0), 2) AS pct
FROM crawl c CROSS JOIN mxcensus_unit u CROSS JOIN mxcensus_failure_class f
LEFT JOIN n ON n.crawl_id = c.crawl_id AND n.unit = u.unit AND n.no_tls_reason = f.class
WHERE u.unit <> 'domain';

-- 6. Tampering per network (/24, /48): addresses whose STARTTLS was masked in the EHLO reply,
-- and addresses that sent bytes after the 220 to STARTTLS (injection). Only networks with any.
-- No AS data is collected, so there is no AS column yet.
CREATE VIEW v_tampering AS
SELECT crawl_id, network, count(*) AS ips_probed,
       count(*) FILTER (WHERE starttls_stripped) AS stripped,
       count(*) FILTER (WHERE starttls_injected) AS injected,
       round(100.0 * count(*) FILTER (WHERE starttls_stripped) / count(*), 2) AS pct_stripped,
       round(100.0 * count(*) FILTER (WHERE starttls_injected) / count(*), 2) AS pct_injected,
       min(mx_name) FILTER (WHERE starttls_stripped OR starttls_injected) AS sample_mx_name
FROM v_ip_facts
GROUP BY crawl_id, network
HAVING count(*) FILTER (WHERE starttls_stripped OR starttls_injected) > 0;

-- 7. Providers (registrable domain of a domain's primary MX): share of domains, the funnel of
-- their domains, and their own MX hosts' certificate verdicts.
CREATE VIEW v_providers AS
WITH dom AS (
  SELECT crawl_id, provider, count(*) AS domains,
         count(*) FILTER (WHERE tcp_open) AS domains_tcp_open,
         count(*) FILTER (WHERE starttls_offered) AS domains_starttls_offered,
         count(*) FILTER (WHERE handshake_ok) AS domains_starttls,
         count(*) FILTER (WHERE all_mx_starttls) AS domains_all_mx_starttls,
         count(*) FILTER (WHERE cert_verdict = 'valid') AS domains_valid_cert
  FROM v_domain_facts WHERE provider IS NOT NULL GROUP BY 1, 2
), hosts AS (
  SELECT crawl_id, provider, count(*) AS mx_hosts,
         count(*) FILTER (WHERE tcp_open) AS mx_hosts_tcp_open,
         count(*) FILTER (WHERE starttls_offered) AS mx_hosts_starttls_offered,
         count(*) FILTER (WHERE handshake_ok) AS mx_hosts_starttls,
         count(*) FILTER (WHERE cert_verdict = 'valid') AS mx_hosts_valid,
         count(*) FILTER (WHERE cert_verdict = 'valid_name_mismatch') AS mx_hosts_name_mismatch,
         count(*) FILTER (WHERE cert_verdict = 'self_signed') AS mx_hosts_self_signed,
         count(*) FILTER (WHERE cert_verdict = 'untrusted_chain') AS mx_hosts_untrusted_chain,
         count(*) FILTER (WHERE cert_verdict = 'expired') AS mx_hosts_expired,
         count(*) FILTER (WHERE cert_verdict = 'not_yet_valid') AS mx_hosts_not_yet_valid,
         count(*) FILTER (WHERE cert_verdict = 'weak_key_or_signature') AS mx_hosts_weak,
         count(*) FILTER (WHERE cert_verdict = 'other_invalid') AS mx_hosts_other_invalid
  FROM v_mx_host_facts GROUP BY 1, 2
)
SELECT dom.crawl_id, dom.provider, dom.domains,
       round(100.0 * dom.domains / sum(dom.domains) OVER (PARTITION BY dom.crawl_id), 2)
         AS pct_domains,
       dom.domains_tcp_open, dom.domains_starttls_offered, dom.domains_starttls,
       round(100.0 * dom.domains_starttls / dom.domains, 2) AS pct_domains_starttls,
       dom.domains_all_mx_starttls, dom.domains_valid_cert,
       round(100.0 * dom.domains_valid_cert / dom.domains, 2) AS pct_domains_valid_cert,
       coalesce(hosts.mx_hosts, 0) AS mx_hosts,
       coalesce(hosts.mx_hosts_tcp_open, 0) AS mx_hosts_tcp_open,
       coalesce(hosts.mx_hosts_starttls_offered, 0) AS mx_hosts_starttls_offered,
       coalesce(hosts.mx_hosts_starttls, 0) AS mx_hosts_starttls,
       coalesce(hosts.mx_hosts_valid, 0) AS mx_hosts_valid,
       coalesce(hosts.mx_hosts_name_mismatch, 0) AS mx_hosts_name_mismatch,
       coalesce(hosts.mx_hosts_self_signed, 0) AS mx_hosts_self_signed,
       coalesce(hosts.mx_hosts_untrusted_chain, 0) AS mx_hosts_untrusted_chain,
       coalesce(hosts.mx_hosts_expired, 0) AS mx_hosts_expired,
       coalesce(hosts.mx_hosts_not_yet_valid, 0) AS mx_hosts_not_yet_valid,
       coalesce(hosts.mx_hosts_weak, 0) AS mx_hosts_weak,
       coalesce(hosts.mx_hosts_other_invalid, 0) AS mx_hosts_other_invalid
FROM dom LEFT JOIN hosts ON hosts.crawl_id = dom.crawl_id AND hosts.provider = dom.provider;

-- 8. MTA software named by greeting / EHLO, with its STARTTLS share.
CREATE VIEW v_mta_software AS
SELECT crawl_id, unit, software, count(*) AS count,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY crawl_id, unit), 2) AS pct,
       count(*) FILTER (WHERE starttls_offered) AS starttls_offered,
       round(100.0 * count(*) FILTER (WHERE starttls_offered) / count(*), 2)
         AS pct_starttls_offered,
       count(*) FILTER (WHERE handshake_ok) AS handshake_ok,
       round(100.0 * count(*) FILTER (WHERE handshake_ok) / count(*), 2) AS pct_handshake_ok
FROM (SELECT crawl_id, 'mx_host' AS unit, software, starttls_offered, handshake_ok
      FROM v_mx_host_facts WHERE software IS NOT NULL
      UNION ALL
      SELECT crawl_id, 'ip', software, starttls_offered, handshake_ok FROM v_ip_facts) s
GROUP BY crawl_id, unit, software;

-- 9. The policy layer: domains publishing each record, of the domains that resolved (status
-- ok or null_mx). dane_tlsa: any MX host has TLSA records; dane_tlsa_ad: with the AD bit.
CREATE VIEW v_policy AS
WITH base AS (
  SELECT * FROM v_domain_facts WHERE status IN ('ok', 'null_mx')
), n AS (
  SELECT crawl_id, count(*) AS domains,
         count(*) FILTER (WHERE spf) AS spf, count(*) FILTER (WHERE dmarc) AS dmarc,
         count(*) FILTER (WHERE dmarc_policy = 'none') AS dmarc_none,
         count(*) FILTER (WHERE dmarc_policy = 'quarantine') AS dmarc_quarantine,
         count(*) FILTER (WHERE dmarc_policy = 'reject') AS dmarc_reject,
         count(*) FILTER (WHERE mta_sts) AS mta_sts, count(*) FILTER (WHERE tls_rpt) AS tls_rpt,
         count(*) FILTER (WHERE dane_tlsa) AS dane_tlsa,
         count(*) FILTER (WHERE dane_tlsa_ad) AS dane_tlsa_ad
  FROM base GROUP BY crawl_id
)
SELECT n.crawl_id, r.record_no, r.record, n.domains AS domains_resolved, r.n AS domains,
       round(100.0 * r.n / nullif(n.domains, 0), 2) AS pct
FROM n CROSS JOIN LATERAL (VALUES (1, 'spf', n.spf), (2, 'dmarc', n.dmarc),
                                  (3, 'dmarc_none', n.dmarc_none),
                                  (4, 'dmarc_quarantine', n.dmarc_quarantine),
                                  (5, 'dmarc_reject', n.dmarc_reject), (6, 'mta_sts', n.mta_sts),
                                  (7, 'tls_rpt', n.tls_rpt), (8, 'dane_tlsa', n.dane_tlsa),
                                  (9, 'dane_tlsa_ad', n.dane_tlsa_ad)) r(record_no, record, n);

-- 10. One row per crawl with the headline shares, for time-series panels ("time" = start).
CREATE VIEW v_crawl_series AS
SELECT c.crawl_id, c.name, c.state, coalesce(c.started_at, c.created_at) AS "time",
       c.finished_at,
       coalesce(d.domains, 0) AS domains, coalesce(d.domains_with_mx, 0) AS domains_with_mx,
       coalesce(d.domains_starttls, 0) AS domains_starttls,
       round(100.0 * d.domains_starttls / nullif(d.domains_with_mx, 0), 2) AS pct_domains_starttls,
       round(100.0 * d.domains_all_mx_starttls / nullif(d.domains_with_mx, 0), 2)
         AS pct_domains_all_mx_starttls,
       round(100.0 * d.domains_valid / nullif(d.domains_with_mx, 0), 2) AS pct_domains_valid_cert,
       coalesce(h.mx_hosts, 0) AS mx_hosts,
       round(100.0 * h.mx_hosts_starttls / nullif(h.mx_hosts_probed, 0), 2)
         AS pct_mx_hosts_starttls,
       coalesce(i.ips, 0) AS ips,
       round(100.0 * i.ips_starttls / nullif(i.ips, 0), 2) AS pct_ips_starttls,
       round(100.0 * i.ips_tls13 / nullif(i.ips_starttls, 0), 2) AS pct_tls13,
       round(100.0 * i.ips_fs / nullif(i.ips_starttls, 0), 2) AS pct_forward_secrecy,
       round(100.0 * i.ips_valid / nullif(i.ips_starttls, 0), 2) AS pct_ips_valid_cert,
       round(100.0 * i.ips_logjam / nullif(i.ips_dhe, 0), 2) AS pct_dhe_logjam,
       round(100.0 * d.spf / nullif(d.domains_resolved, 0), 2) AS pct_spf,
       round(100.0 * d.dmarc / nullif(d.domains_resolved, 0), 2) AS pct_dmarc,
       round(100.0 * d.dmarc_reject / nullif(d.domains_resolved, 0), 2) AS pct_dmarc_reject,
       round(100.0 * d.mta_sts / nullif(d.domains_resolved, 0), 2) AS pct_mta_sts,
       round(100.0 * d.tls_rpt / nullif(d.domains_resolved, 0), 2) AS pct_tls_rpt,
       round(100.0 * d.dane / nullif(d.domains_resolved, 0), 2) AS pct_dane_tlsa
FROM crawl c
LEFT JOIN (
  SELECT crawl_id, count(*) AS domains, count(*) FILTER (WHERE has_mx) AS domains_with_mx,
         count(*) FILTER (WHERE handshake_ok) AS domains_starttls,
         count(*) FILTER (WHERE all_mx_starttls) AS domains_all_mx_starttls,
         count(*) FILTER (WHERE cert_verdict = 'valid') AS domains_valid,
         count(*) FILTER (WHERE status IN ('ok', 'null_mx')) AS domains_resolved,
         count(*) FILTER (WHERE spf AND status IN ('ok', 'null_mx')) AS spf,
         count(*) FILTER (WHERE dmarc AND status IN ('ok', 'null_mx')) AS dmarc,
         count(*) FILTER (WHERE dmarc_policy = 'reject' AND status IN ('ok', 'null_mx'))
           AS dmarc_reject,
         count(*) FILTER (WHERE mta_sts AND status IN ('ok', 'null_mx')) AS mta_sts,
         count(*) FILTER (WHERE tls_rpt AND status IN ('ok', 'null_mx')) AS tls_rpt,
         count(*) FILTER (WHERE dane_tlsa AND status IN ('ok', 'null_mx')) AS dane
  FROM v_domain_facts GROUP BY crawl_id
) d ON d.crawl_id = c.crawl_id
LEFT JOIN (
  SELECT crawl_id, count(*) AS mx_hosts, count(*) FILTER (WHERE ips_probed > 0) AS mx_hosts_probed,
         count(*) FILTER (WHERE handshake_ok) AS mx_hosts_starttls
  FROM v_mx_host_facts GROUP BY crawl_id
) h ON h.crawl_id = c.crawl_id
LEFT JOIN (
  SELECT crawl_id, count(*) AS ips, count(*) FILTER (WHERE handshake_ok) AS ips_starttls,
         count(*) FILTER (WHERE handshake_ok AND tls_version = 'TLSv1.3') AS ips_tls13,
         count(*) FILTER (WHERE handshake_ok AND key_exchange IN ('ECDHE', 'DHE')) AS ips_fs,
         count(*) FILTER (WHERE cert_verdict = 'valid') AS ips_valid,
         count(*) FILTER (WHERE handshake_ok AND key_exchange = 'DHE') AS ips_dhe,
         count(*) FILTER (WHERE handshake_ok AND key_exchange = 'DHE' AND dh_bits <= 1024)
           AS ips_logjam
  FROM v_ip_facts GROUP BY crawl_id
) i ON i.crawl_id = c.crawl_id;

-- The attributes compared between crawls, one row per item and attribute.
CREATE VIEW v_change_attributes AS
SELECT crawl_id, 'domain' AS unit, domain AS name, provider, a.attribute, a.value
FROM v_domain_facts
CROSS JOIN LATERAL (VALUES ('starttls', handshake_ok), ('valid_cert', cert_verdict = 'valid'),
                           ('mta_sts', mta_sts), ('tls_rpt', tls_rpt), ('dane_tlsa', dane_tlsa),
                           ('spf', spf), ('dmarc', dmarc)) a(attribute, value)
UNION ALL
SELECT crawl_id, 'mx_host', mx_name, provider, a.attribute, a.value
FROM v_mx_host_facts
CROSS JOIN LATERAL (VALUES ('starttls', handshake_ok), ('valid_cert', cert_verdict = 'valid'),
                           ('dane_tlsa', dane_tlsa)) a(attribute, value);

-- 11. What changed from crawl `a` to crawl `b`: domains and MX hosts present in both that
-- gained or lost STARTTLS (a completed handshake), a valid certificate, or a policy record.
-- provider is the one in crawl b.
CREATE FUNCTION mxcensus_changes(a bigint, b bigint)
RETURNS TABLE (unit text, name text, provider text, attribute text, change text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- plpgsql, so never inlined: each side is computed once for its crawl, then hash-joined.
  RETURN QUERY
  WITH na AS MATERIALIZED (SELECT * FROM v_change_attributes x WHERE x.crawl_id = a),
       nb AS MATERIALIZED (SELECT * FROM v_change_attributes x WHERE x.crawl_id = b)
  SELECT nb.unit, nb.name, nb.provider, nb.attribute,
         CASE WHEN coalesce(nb.value, false) THEN 'gained' ELSE 'lost' END
  FROM na JOIN nb ON nb.unit = na.unit AND nb.name = na.name AND nb.attribute = na.attribute
  WHERE coalesce(na.value, false) <> coalesce(nb.value, false)
  ORDER BY 1, 2, 4;
END $$;

-- 11b. Changes of each crawl against the finished crawl before it (by crawl_id), counted.
CREATE VIEW v_changes AS
SELECT c.crawl_id, c.previous_crawl_id, x.unit, x.attribute,
       count(*) FILTER (WHERE x.change = 'gained') AS gained,
       count(*) FILTER (WHERE x.change = 'lost') AS lost,
       count(*) FILTER (WHERE x.change = 'gained') - count(*) FILTER (WHERE x.change = 'lost')
         AS net
FROM (SELECT cr.crawl_id,
             (SELECT max(p.crawl_id) FROM crawl p
              WHERE p.crawl_id < cr.crawl_id AND p.state = 'finished') AS previous_crawl_id
      FROM crawl cr) c
CROSS JOIN LATERAL mxcensus_changes(c.previous_crawl_id, c.crawl_id) x
WHERE c.previous_crawl_id IS NOT NULL
GROUP BY c.crawl_id, c.previous_crawl_id, x.unit, x.attribute;

-- 12. Who, why, where: probed addresses without a completed handshake, grouped by provider,
-- network, software and reason, with the MX hosts and domains behind them and a sample greeting.
CREATE VIEW v_no_starttls AS
SELECT pf.crawl_id, pf.provider, pf.network, pf.software, pf.no_tls_reason AS reason,
       count(DISTINCT (pf.ip, pf.port)) AS ips, count(DISTINCT pf.mx_name) AS mx_hosts,
       (SELECT count(DISTINCT dm.domain) FROM domain_mx dm
        WHERE dm.crawl_id = pf.crawl_id AND dm.mx_name = ANY (array_agg(pf.mx_name))) AS domains,
       min(pf.mx_name) AS sample_mx_name,
       (array_agg(pf.banner ORDER BY pf.mx_name) FILTER (WHERE pf.banner IS NOT NULL))[1]
         AS sample_greeting
FROM v_probe_facts pf
WHERE NOT pf.handshake_ok
GROUP BY pf.crawl_id, pf.provider, pf.network, pf.software, pf.no_tls_reason;

GRANT SELECT ON mxcensus_funnel_step, mxcensus_cert_verdict, mxcensus_dh_bucket,
  mxcensus_failure_class, mxcensus_unit, v_probe_facts, v_ip_facts, v_mx_host_facts,
  v_domain_facts, v_funnel, v_tls_items, v_cert_verdicts, v_tls_negotiated, v_tls_summary,
  v_dh_sizes, v_ecdhe_groups, v_starttls_failures, v_tampering, v_providers, v_mta_software,
  v_policy, v_crawl_series, v_change_attributes, v_changes, v_no_starttls
  TO mxcensus_reader;
