#!/bin/sh
# Run by the nginx image's entrypoint before nginx starts (/docker-entrypoint.d/). Without a
# certificate in the TLS folder, writes a self-signed one there so that the site answers over HTTPS
# from the first start; browsers warn until the site's real certificate replaces it (README,
# "Production"). Anything already there is never touched: a complete pair is used as it is, and a
# key without its certificate (or the reverse: a renewal under way) stops the start with a message
# rather than being replaced.
set -eu
dir="${TLS_DIR:-/etc/nginx/tls}"
name="${TLS_SERVER_NAME:-localhost}"
if [ -e "$dir/fullchain.pem" ] || [ -e "$dir/privkey.pem" ]; then
    if [ -s "$dir/fullchain.pem" ] && [ -s "$dir/privkey.pem" ]; then
        exit 0
    fi
    echo "self-signed-certificate: $dir holds only one of fullchain.pem and privkey.pem (or an empty one);" \
         "nothing was generated: put the missing file there, or remove both to get a self-signed pair" >&2
    exit 1
fi
umask 077
work="$(mktemp -d "$dir/.self-signed.XXXXXX")"
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name" -keyout "$work/privkey.pem" -out "$work/fullchain.pem" 2>/dev/null
chmod 644 "$work/fullchain.pem"
# The key first: nginx never finds a certificate without its key.
mv "$work/privkey.pem" "$dir/privkey.pem"
mv "$work/fullchain.pem" "$dir/fullchain.pem"
echo "self-signed-certificate: no certificate in $dir, a self-signed one for $name was generated;" \
     "put the site's real certificate there (fullchain.pem, privkey.pem) and restart nginx" >&2
