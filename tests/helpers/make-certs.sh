#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Generates the test certificates into OUTDIR: NAME.pem, NAME.der, NAME.key for each one
# below, and an NSS database OUTDIR/nssdb holding two user certificates with their keys.
#
#   root        RSA root CA, signed sha384WithRSAEncryption
#   inter       RSA intermediate CA (under root)
#   ec-ca       ECDSA P-256 root CA
#   dsa-ca      DSA root CA
#   pss-ca      RSA-PSS-key root CA (signed rsa_pss_pss_sha256)
#   ed25519-ca  Ed25519 root CA (signed ed25519)
# Client certificates (clientAuth, digitalSignature unless said), under inter unless said:
#   rsa, rsa-plain (no keyUsage, no EKU), rsa-pss (RSA-PSS key, signed rsa_pss_rsae_sha256),
#   rsa-by-pss (under pss-ca: signed rsa_pss_pss_sha256),
#   ec256, ec384, ed25519, dsa (under dsa-ca), any-eku (anyExtendedKeyUsage),
#   ecdh256 (P-256, keyAgreement, RSA-signed), ecdh256-ec (P-256, keyAgreement, under ec-ca),
#   ecdh384 (P-384, keyAgreement, under ec-ca, ecdsa-with-SHA384),
#   dh-rsa (DH ffdhe2048, keyAgreement), dh-dsa (same group, under dsa-ca),
#   dh-other (DH RFC 5114 2048-bit group, keyAgreement), expired (2010-2011),
#   not-yet-valid (2090-2091), older (from 2020), newer (from 2024),
#   server-auth (serverAuth EKU only), nonrep (keyUsage nonRepudiation only).
# Server certificates: server-rsa, server-ec (P-256), server-dh (ffdhe2048).
# nssdb: root and inter as CA certificates, "rsa client" and "ec256 client" with keys.
set -eu

if [ $# -ne 1 ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi
out=$1
mkdir -p "$out"
cd "$out"
umask 077

serial=100

cat > ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[client]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[plain]
basicConstraints = CA:false
[any_eku]
keyUsage = critical, digitalSignature
extendedKeyUsage = anyExtendedKeyUsage
[key_agreement]
basicConstraints = CA:false
keyUsage = critical, keyAgreement
extendedKeyUsage = clientAuth
[server_auth]
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[nonrep]
keyUsage = critical, nonRepudiation
extendedKeyUsage = clientAuth
[server]
keyUsage = critical, digitalSignature, keyEncipherment, keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:server.test
EOF

# openssl ca, only for the certificates whose validity starts or ends at a given date.
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
dir = ca-db
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
certificate = inter.pem
private_key = inter.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
localityName = optional
EOF

# key NAME ALGORITHM [PKEYOPT...]
key() {
        name=$1 alg=$2
        shift 2
        set -- $(for o in "$@"; do printf -- '-pkeyopt %s ' "$o"; done)
        openssl genpkey -quiet -algorithm "$alg" "$@" -out "$name.key" 2>/dev/null ||
                openssl genpkey -algorithm "$alg" "$@" -out "$name.key" 2>/dev/null
}

der() {
        openssl x509 -in "$1.pem" -outform DER -out "$1.der"
}

# selfsigned NAME SUBJECT [OPENSSL-REQ-OPTIONS...]
selfsigned() {
        name=$1 subj=$2
        shift 2
        openssl req -new -x509 -key "$name.key" -subj "$subj" -days 3650 \
                -set_serial "$serial" -config ext.cnf -extensions ca "$@" -out "$name.pem"
        serial=$((serial + 1))
        der "$name"
}

# issue NAME ISSUER SECTION SUBJECT [OPENSSL-X509-OPTIONS...]
issue() {
        name=$1 issuer=$2 section=$3 subj=$4
        shift 4
        openssl req -new -key "$name.key" -subj "$subj" -config ext.cnf -out "$name.csr"
        openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" \
                -set_serial "$serial" -days 3650 -extfile ext.cnf -extensions "$section" \
                "$@" -out "$name.pem" 2>/dev/null
        serial=$((serial + 1))
        der "$name"
}

# issue_forced NAME KEYFILE ISSUER SECTION SUBJECT: a certificate for a key that cannot
# sign its own request (Diffie-Hellman).
issue_forced() {
        name=$1 pub=$2 issuer=$3 section=$4 subj=$5
        openssl pkey -in "$pub" -pubout -out "$name.pub"
        openssl x509 -new -subj "$subj" -CA "$issuer.pem" -CAkey "$issuer.key" \
                -force_pubkey "$name.pub" -set_serial "$serial" -days 3650 \
                -extfile ext.cnf -extensions "$section" -out "$name.pem" 2>/dev/null
        serial=$((serial + 1))
        der "$name"
}

# dated NAME SUBJECT START END (YYYYMMDDHHMMSSZ)
dated() {
        name=$1 subj=$2 start=$3 end=$4
        key "$name" RSA rsa_keygen_bits:2048
        openssl req -new -key "$name.key" -subj "$subj" -config ext.cnf -out "$name.csr"
        openssl ca -batch -notext -config ca.cnf -startdate "$start" -enddate "$end" \
                -extfile ext.cnf -extensions client -in "$name.csr" -out "$name.pem" 2>/dev/null
        der "$name"
}

org="/O=tlsid test"

# Certificate authorities.
key root RSA rsa_keygen_bits:2048
selfsigned root "$org/OU=Roots/CN=tlsid Test Root CA" -sha384
key inter RSA rsa_keygen_bits:2048
issue inter root ca "$org/OU=Intermediates/CN=tlsid Test Intermediate CA"
key ec-ca EC ec_paramgen_curve:P-256
selfsigned ec-ca "$org/OU=Roots/CN=tlsid Test ECDSA CA"
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 \
        -out dsa-params.pem 2>/dev/null
openssl genpkey -paramfile dsa-params.pem -out dsa-ca.key
selfsigned dsa-ca "$org/OU=Roots/CN=tlsid Test DSA CA"
key pss-ca RSA-PSS rsa_keygen_bits:2048
selfsigned pss-ca "$org/OU=Roots/CN=tlsid Test RSA-PSS CA" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
key ed25519-ca ED25519
selfsigned ed25519-ca "$org/OU=Roots/CN=tlsid Test Ed25519 CA"

# Client certificates.
people="/L=Paris$org/OU=People/OU=Testers"
key rsa RSA rsa_keygen_bits:2048
issue rsa inter client "$people/CN=rsa client"
key rsa-plain RSA rsa_keygen_bits:2048
issue rsa-plain inter plain "$people/CN=rsa plain"
key rsa-pss RSA-PSS rsa_keygen_bits:2048
issue rsa-pss inter client "$people/CN=rsa-pss client" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
key rsa-by-pss RSA rsa_keygen_bits:2048
issue rsa-by-pss pss-ca client "$people/CN=rsa-by-pss client"
key ec256 EC ec_paramgen_curve:P-256
issue ec256 inter client "$people/CN=ec256 client"
key ec384 EC ec_paramgen_curve:P-384
issue ec384 inter client "$people/CN=ec384 client"
key ed25519 ED25519
issue ed25519 inter client "$people/CN=ed25519 client"
openssl genpkey -paramfile dsa-params.pem -out dsa.key
issue dsa dsa-ca client "$people/CN=dsa client"
key any-eku EC ec_paramgen_curve:P-256
issue any-eku inter any_eku "$people/CN=any-eku client"
key ecdh256 EC ec_paramgen_curve:P-256
issue ecdh256 inter key_agreement "$people/CN=ecdh256 client"
key ecdh256-ec EC ec_paramgen_curve:P-256
issue ecdh256-ec ec-ca key_agreement "$people/CN=ecdh256-ec client"
key ecdh384 EC ec_paramgen_curve:P-384
issue ecdh384 ec-ca key_agreement "$people/CN=ecdh384 client" -sha384
key dh-rsa DHX group:ffdhe2048
issue_forced dh-rsa dh-rsa.key inter key_agreement "$people/CN=dh-rsa client"
key dh-dsa DHX group:ffdhe2048
issue_forced dh-dsa dh-dsa.key dsa-ca key_agreement "$people/CN=dh-dsa client"
key dh-other DHX dh_rfc5114:2
issue_forced dh-other dh-other.key inter key_agreement "$people/CN=dh-other client"
dated expired "$people/CN=expired client" 20100101000000Z 20110101000000Z
dated not-yet-valid "$people/CN=not-yet-valid client" 20900101000000Z 20910101000000Z
dated older "$people/CN=older client" 20200101000000Z 20800101000000Z
dated newer "$people/CN=newer client" 20240101000000Z 20800101000000Z
key server-auth RSA rsa_keygen_bits:2048
issue server-auth inter server_auth "$people/CN=server-auth client"
key nonrep RSA rsa_keygen_bits:2048
issue nonrep inter nonrep "$people/CN=nonrep client"

# Server certificates.
key server-rsa RSA rsa_keygen_bits:2048
issue server-rsa inter server "$org/CN=server.test"
key server-ec EC ec_paramgen_curve:P-256
issue server-ec inter server "$org/CN=server.test"
key server-dh DHX group:ffdhe2048
issue_forced server-dh server-dh.key inter server "$org/CN=server.test"

# The NSS database: the two CA certificates, and two user certificates with their keys.
mkdir -p nssdb
certutil -N -d sql:nssdb --empty-password
certutil -A -d sql:nssdb -n "tlsid Test Root CA" -t "C,C," -i root.pem
certutil -A -d sql:nssdb -n "tlsid Test Intermediate CA" -t ",," -i inter.pem
for name in rsa ec256; do
        openssl pkcs12 -export -inkey "$name.key" -in "$name.pem" -name "$name client" \
                -passout pass:test -out "$name.p12"
        pk12util -i "$name.p12" -d sql:nssdb -W test -K "" > /dev/null
done
rm -f ./*.csr ./*.pub ./*.p12
