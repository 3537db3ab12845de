#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Generates the certificates of the end-to-end tests into OUTDIR:
#
#   ca.pem ca.key          the test CA (EC P-256, self-signed)
#   server.pem server.key  CN=localhost, SAN DNS:localhost and IP:127.0.0.1, serverAuth
#   alice.pem alice.key    CN=Alice (RSA 2048), clientAuth, digitalSignature
#   bob.pem bob.key        CN=Bob (EC P-256), clientAuth, digitalSignature
#   alice.fp bob.fp        the SHA-256 of the certificate's DER, lower-case hex, no newline
#   client-db/             NSS database: alice and bob with their keys (nicknames "alice"
#                          and "bob"), the CA trusted "CT,C,C"
#   server-db/             NSS database for selfserv: the server certificate and key
#                          (nickname "server"), the CA trusted for client authentication
# Both databases have an empty password.
set -eu

if [ $# -ne 1 ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi
for tool in openssl certutil pk12util; do
        if ! command -v "$tool" > /dev/null 2>&1; then
                echo "$0: $tool not found (install openssl and libnss3-tools)" >&2
                exit 1
        fi
done
out=$1
mkdir -p "$out"
cd "$out"
umask 077

cat > ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[client]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[server]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF

org="/O=tlsid e2e"
serial=100

# issue NAME SECTION SUBJECT: a certificate for NAME.key signed by the CA.
issue() {
        openssl req -new -key "$1.key" -subj "$3" -config ext.cnf -out "$1.csr"
        openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$serial" \
                -days 3650 -sha256 -extfile ext.cnf -extensions "$2" -out "$1.pem" 2>/dev/null
        serial=$((serial + 1))
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -new -x509 -key ca.key -subj "$org/CN=tlsid e2e CA" -days 3650 -sha256 \
        -set_serial 1 -config ext.cnf -extensions ca -out ca.pem

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
issue server server "$org/CN=localhost"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out alice.key 2>/dev/null
issue alice client "$org/CN=Alice"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out bob.key 2>/dev/null
issue bob client "$org/CN=Bob"

for name in alice bob; do
        openssl x509 -in "$name.pem" -outform DER |
                openssl dgst -sha256 -r | cut -d' ' -f1 | tr -d '\n' > "$name.fp"
done

# import_key DB NAME: NAME.pem and NAME.key into DB, with nickname NAME.
import_key() {
        openssl pkcs12 -export -inkey "$2.key" -in "$2.pem" -name "$2" \
                -passout pass:e2e -out "$2.p12"
        pk12util -i "$2.p12" -d "sql:$1" -W e2e -K "" > /dev/null
        rm -f "$2.p12"
}

rm -rf client-db server-db
mkdir client-db server-db
certutil -N -d sql:client-db --empty-password
certutil -A -d sql:client-db -n "tlsid e2e CA" -t "CT,C,C" -i ca.pem
import_key client-db alice
import_key client-db bob
certutil -N -d sql:server-db --empty-password
certutil -A -d sql:server-db -n "tlsid e2e CA" -t "CT,C,C" -i ca.pem
import_key server-db server
rm -f ./*.csr
