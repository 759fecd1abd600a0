#!/usr/bin/perl
# An authorization plugin for dockerd that allows every request: enough for a daemon to run
# with `authorization-plugins` set (CIS Docker 2.12) without any real policy.
# Usage: _authz.pl SOCKET_PATH. Speaks just enough HTTP/1.1 for dockerd's plugin client.
use strict;
use warnings;
use IO::Socket::UNIX;

my $path = shift or die "usage: $0 SOCKET\n";
unlink $path;
my $server = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 64)
    or die "cannot listen on $path: $!\n";
$SIG{PIPE} = 'IGNORE';

while (my $client = $server->accept) {
    # One request per connection; `Connection: close` tells the client not to reuse it.
    my $request = <$client>;
    next unless defined $request;
    my ($method, $target) = split ' ', $request;
    my $length = 0;
    while (my $line = <$client>) {
        last if $line =~ /^\r?\n$/;
        $length = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
    }
    my $body = '';
    read($client, $body, $length) if $length;
    my $reply = $target =~ m{Plugin\.Activate} ? '{"Implements":["authz"]}' : '{"Allow":true}';
    print $client "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
        . "Content-Length: " . length($reply) . "\r\nConnection: close\r\n\r\n" . $reply;
    close $client;
}
