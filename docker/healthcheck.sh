#!/usr/bin/env bash
# healthcheck.sh - the image's HEALTHCHECK. Exit 0 when healthy, 1 when not.
#
#   the self-contained stack (its nginx's pid file in $LOOPGATE_VAR/run):
#       GET /readyz through its nginx on 127.0.0.1:$SERVER_PORT. 200 only
#       when the workers answer and reach the container's own PostgreSQL,
#       which is part of this container: a dead cluster makes it unhealthy.
#   the nginx container (its pid file in $LOOPGATE_NGINX_VAR/run):
#       GET /livez through nginx, so the `serve` containers behind it too.
#   a `serve` container (no HTTP listener): GET /livez straight from the
#       workers over FastCGI on $LOOPGATE_SOCKET: a unix socket path, or
#       host:port with an IPv4 address, [IPv6 address] or a name. /livez,
#       not /readyz: a database outage is not cured by restarting every
#       container that uses it. The FastCGI client is perl-base's (every
#       Debian image has it). Over TCP it connects from loopback (127.0.0.1,
#       ::1), which the entrypoint adds to FCGI_WEB_SERVER_ADDRS when that is
#       set (the workers would close any other address of this container
#       unanswered); a wildcard address (0.0.0.0:9000, :9000, [::]:9000) is
#       asked on loopback.
set -uo pipefail
port=${SERVER_PORT:-8080}
sock=${LOOPGATE_SOCKET:-/run/loopgate/loopgate.sock}

if [[ -s ${LOOPGATE_VAR:-/var/lib/loopgate}/run/nginx.pid ]]; then
    exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$port/readyz"
fi
if [[ -s ${LOOPGATE_NGINX_VAR:-/tmp/loopgate-nginx}/run/nginx.pid ]]; then
    exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$port/livez"
fi

perl - "$sock" /livez <<'PERL' || exit 1
use strict;
use warnings;
use Socket qw(:addrinfo AF_INET AF_INET6 AF_UNIX SOCK_STREAM inet_aton inet_pton pack_sockaddr_in
              pack_sockaddr_in6 pack_sockaddr_un);

my ($target, $uri) = @ARGV;
$SIG{ALRM} = sub { print STDERR "$target: no answer within 4 s\n"; exit 1 };
alarm 4;

my ($family, $addr);
if ($target =~ m{^/}) {
    ($family, $addr) = (AF_UNIX, pack_sockaddr_un($target));
} else {
    my ($host, $port) = $target =~ /^\[([^\]]*)\]:(\d+)$/ ? ($1, $2)
                      : $target =~ /^([^:\[\]]*):(\d+)$/  ? ($1, $2)
                      : die "LOOPGATE_SOCKET '$target' is neither a path nor host:port\n";
    $host = '127.0.0.1' if $host eq '' || $host eq '*' || $host eq '0.0.0.0';
    $host = '::1' if $host eq '::';
    my ($err, $ai) = getaddrinfo($host, $port, {socktype => SOCK_STREAM});
    die "$host: $err\n" if $err || !$ai;
    ($family, $addr) = ($ai->{family}, $ai->{addr});
}
socket(my $s, $family, SOCK_STREAM, 0) or die "socket: $!\n";
if ($family == AF_INET) {
    bind($s, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind 127.0.0.1: $!\n";
} elsif ($family == AF_INET6) {
    bind($s, pack_sockaddr_in6(0, inet_pton(AF_INET6, '::1'))) or die "bind ::1: $!\n";
}
connect($s, $addr) or die "connect $target: $!\n";

# FastCGI records (version 1, request id 1): BEGIN_REQUEST as a responder,
# the parameters, their end, an empty stdin.
sub record {
    my ($type, $body) = @_;
    my $pad = (8 - length($body) % 8) % 8;
    return pack('CCnnCC', 1, $type, 1, length($body), $pad, 0) . $body . ("\0" x $pad);
}
sub pair {
    return join('', map { length($_) < 128 ? pack('C', length($_)) : pack('N', length($_) | 0x80000000) } @_)
        . join('', @_);
}
my %param = (REQUEST_METHOD => 'GET', SCRIPT_NAME => $uri, DOCUMENT_URI => $uri, REQUEST_URI => $uri,
             QUERY_STRING => '', SERVER_PROTOCOL => 'HTTP/1.1', REMOTE_ADDR => '127.0.0.1');
my $params = join('', map { pair($_, $param{$_}) } sort keys %param);
my $req = record(1, pack('nCx5', 1, 0)) . record(4, $params) . record(4, '') . record(5, '');
while (length $req) {
    my $n = syswrite($s, $req) or die "write $target: $!\n";
    substr($req, 0, $n) = '';
}

sub readn {
    my ($n) = @_;
    my $buf = '';
    while (length($buf) < $n) {
        my $r = sysread($s, $buf, $n - length($buf), length($buf));
        return undef unless $r;
    }
    return $buf;
}
my ($out, $ended) = ('', 0);
while (defined(my $h = readn(8))) {
    my (undef, $type, undef, $len, $pad) = unpack('CCnnC', $h);
    my $body = readn($len + $pad);
    last unless defined $body;
    if ($type == 6) { $out .= substr($body, 0, $len) }
    elsif ($type == 3) { $ended = 1; last }
}
die "$target closed the connection without an answer\n" unless $ended && length $out;
# A response without a Status header is a 200.
my ($head) = split /\r\n\r\n/, $out, 2;
my $status = $head =~ /^Status:\s*(\d{3})/mi ? $1 : 200;
die "$uri answered $status\n" unless $status == 200;
exit 0;
PERL
