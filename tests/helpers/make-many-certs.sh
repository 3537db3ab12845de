#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Many client certificates with large names, cheaply, for the tests of bounded
# certificate lists (tests/integration/test-cert-lists.c), in two steps around the test's
# own step, which makes the certificates from the template by writing a number in place of
# its marker (so they cost no key and no signature each):
#
#   make-many-certs.sh OUTDIR
#       key.pem, one P-256 key, and template.der, a self-signed client certificate of it
#       (clientAuth, digitalSignature, not a CA, valid from now for a year) whose
#       subject, and so issuer, is 47 OU of 60 '"' each (which RFC 4514 spells as two
#       bytes each) and "CN=client XQXQXQ", the marker.
#   make-many-certs.sh OUTDIR database
#       OUTDIR/nssdb, an NSS database holding the key and, as user certificates, first.pem
#       (nickname given in first.name) and every certificate of rest.pem (nicknames, one a
#       line, in rest.names), in one PKCS #12 import.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        echo "usage: $0 OUTDIR [database]" >&2
        exit 2
fi
cd "$1"
umask 077

case ${2-template} in
template)
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null
        ous=""
        quotes=$(printf '"%.0s' $(seq 1 60))
        for i in $(seq 1 47); do
                ous="$ous/OU=$quotes"
        done
        openssl req -new -x509 -key key.pem -subj "/O=tlsid many$ous/CN=client XQXQXQ" \
                -days 365 -set_serial 4096 -addext basicConstraints=CA:FALSE \
                -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=clientAuth \
                -outform DER -out template.der
        ;;
database)
        set --
        while read -r name; do
                set -- "$@" -caname "$name"
        done < rest.names
        openssl pkcs12 -export -inkey key.pem -in first.pem -name "$(cat first.name)" \
                -certfile rest.pem "$@" -passout pass:many -out many.p12
        mkdir nssdb
        certutil -N -d sql:nssdb --empty-password
        pk12util -i many.p12 -d sql:nssdb -W many -K "" > /dev/null
        rm -f many.p12
        ;;
*)
        echo "$0: unknown step $1" >&2
        exit 2
        ;;
esac
