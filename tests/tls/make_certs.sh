#!/bin/sh
# make_certs.sh DIR - a test CA and certificates for 127.0.0.1, made fresh by
# each test run with the openssl command (nothing is checked in):
#   ca.pem, ca.key             the test CA
#   server.pem, server.key     127.0.0.1 (subjectAltName IP), signed by ca
#   server2.pem, server2.key   the same name and CA, another key (a renewal
#                              with a new key: a pin of server.key refuses it)
#   other-ca.pem, other-ca.key a CA nobody trusts
#   foreign.pem, foreign.key   127.0.0.1 signed by other-ca
#   server.pin, server2.pin    sha256//BASE64 of each key's public key, as
#                              libcurl's CURLOPT_PINNEDPUBLICKEY takes it
set -eu
d=$1
mkdir -p "$d"
cd "$d"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=veld test $1" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name ca
	key "$1.key"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=127.0.0.1"
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
pin() {
	printf 'sha256//%s' "$(openssl pkey -in "$1.key" -pubout -outform DER |
		openssl dgst -sha256 -binary | openssl base64 -A)" > "$1.pin"
}
ca ca
ca other-ca
leaf server ca
leaf server2 ca
leaf foreign other-ca
pin server
pin server2
chmod 644 ./*.pem ./*.pin
