# The storm rig's master: a mod_perl 2 response handler that answers Warewulf 3's /WW/file,
# /WW/script and /WW/nodeconfig (PROTOCOL 2.1-2.4) from a MariaDB database, the way the genuine
# master does under Apache prefork (PROTOCOL 2.7, 2.8). Written for the rig from the protocol text;
# not Warewulf's code.
#
# What is modelled, per Apache child (one process, one request at a time):
# - its first request "compiles the Perl code": StormFirstCpuMs of CPU burnt once (the genuine
#   master's ModPerl::Registry scripts take 0.6-1 s there);
# - its own database connection, opened on its first request and kept for the child's life (a
#   per-child global handle, like Warewulf::DataStore's). While MariaDB is at max_connections the
#   connect fails and the request is a real HTTP 500 (Apache's error page; the error log says
#   "DBI connect(...) failed: Too many connections"); the next request tries to connect again;
# - every request: StormRequestCpuMs of CPU and StormRequestWaitMs of waiting, on top of the real
#   queries (the genuine master's warm requests took 20-50 ms with the database);
# - /WW/file's error paths answer HTTP 200 text/html with the CGI header text embedded in the body
#   (`Content-Type: ...\r\nStatus: 404\r\n\r\n` + an Apache error page), except on a child's very
#   first request, which sends the real status (PROTOCOL 2.7);
# - a 503 mode: while the file StormControlDir/busy exists, or for a StormBusyFraction of requests,
#   the answer is 503 with Retry-After: 30, before any other work (a cheap front answer).
# Not modelled: the source-address check (every simulated node is 127.0.0.1) and the privileged
# source-port rule (one host cannot give hundreds of nodes ports below 1024).
package WWStorm;

use strict;
use warnings;

use Apache2::RequestRec ();
use Apache2::RequestIO ();
use Apache2::RequestUtil ();
use Apache2::Response ();
use Apache2::Log ();
use APR::Table ();
use Apache2::Const -compile => qw(OK SERVER_ERROR NOT_FOUND HTTP_BAD_REQUEST HTTP_SERVICE_UNAVAILABLE);
use DBI ();
use Digest::MD5 ();
use Time::HiRes ();

our $DBH;           # this child's database connection, kept for its life
our $COMPILED = 0;  # the first request's compile cost was paid
our $REQUESTS = 0;  # requests this child has served

my %REASON = (
    400 => ['Bad Request', 'Your browser sent a request that this server could not understand.'],
    403 => ['Forbidden', "You don't have permission to access this resource."],
    404 => ['Not Found', 'The requested URL was not found on this server.'],
    500 => ['Internal Server Error', 'The server encountered an internal error or misconfiguration and was unable to complete your request.'],
);

sub burn_cpu {
    my ($ms) = @_;
    return unless $ms && $ms > 0;
    my $clock = Time::HiRes::CLOCK_PROCESS_CPUTIME_ID();
    my $end = Time::HiRes::clock_gettime($clock) + $ms / 1000;
    my $x = 0;
    while (Time::HiRes::clock_gettime($clock) < $end) {
        $x += $_ for 1 .. 200;
    }
    return $x;
}

sub apache_page {
    my ($status) = @_;
    my ($title, $text) = @{ $REASON{$status} || ['Error', 'An error occurred.'] };
    return "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>$status $title</title>\n"
      . "</head><body>\n<h1>$title</h1>\n<p>$text</p>\n<hr>\n<address>Apache Server at 127.0.0.1</address>\n</body></html>\n";
}

sub query {
    my ($r) = @_;
    my %q;
    for my $pair (split /[&;]/, $r->args // '') {
        my ($k, $v) = split /=/, $pair, 2;
        next unless defined $k;
        for ($k, $v) {
            next unless defined;
            tr/+/ /;
            s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
        }
        $q{$k} = $v // '';
    }
    return \%q;
}

# /WW/file errors as the genuine master sends them (PROTOCOL 2.7).
sub file_error {
    my ($r, $status) = @_;
    return $status == 400 ? Apache2::Const::HTTP_BAD_REQUEST : $status == 404 ? Apache2::Const::NOT_FOUND : Apache2::Const::SERVER_ERROR
      if $REQUESTS == 1;
    $r->content_type('text/html; charset=UTF-8');
    $r->print("Content-Type: application/octet-stream\r\nStatus: $status\r\n\r\n" . apache_page($status));
    return Apache2::Const::OK;
}

sub connect_db {
    my ($r) = @_;
    return $DBH if $DBH;
    my $dsn = $r->dir_config('StormDSN');
    my $user = $r->dir_config('StormDBUser');
    $DBH = DBI->connect($dsn, $user, $r->dir_config('StormDBPassword'), { RaiseError => 0, PrintError => 0, AutoCommit => 1 });
    $r->log_error("DBI connect('$dsn','$user',...) failed: " . ($DBI::errstr // 'unknown error')) unless $DBH;
    return $DBH;
}

sub node_by_hwaddr {
    my ($hwaddr) = @_;
    my $node = $DBH->selectrow_hashref('SELECT id, name, enabled FROM node WHERE hwaddr = ?', undef, $hwaddr);
    return undef unless $node && $node->{enabled};
    # Like the datastore, the whole node object comes with it: every attribute.
    my $rows = $DBH->selectall_arrayref('SELECT k, v FROM node_attr WHERE node_id = ?', undef, $node->{id});
    $node->{attr} = { map { (lc($_->[0]) => $_->[1]) } @$rows };
    return $node;
}

sub content_of {
    my ($obj) = @_;
    my $chunks = $DBH->selectcol_arrayref('SELECT data FROM binstore WHERE file_id = ? ORDER BY chunk', undef, $obj->{id});
    return undef unless $chunks;
    return join('', @$chunks);
}

sub expand {
    my ($buf, $node) = @_;
    $buf =~ s/\%\{([^\}]+)\}/my $v = $node->{attr}{lc $1}; defined $v ? $v : ''/ge;
    return $buf;
}

sub file_list {
    my ($r, $node, $timestamp) = @_;
    my $rows = $DBH->selectall_arrayref(
        'SELECT f.id, f.name, f.uid, f.gid, f.ftype, f.mode, f.timestamp, f.path FROM node_file nf JOIN fileobj f ON f.id = nf.file_id'
          . ' WHERE nf.node_id = ? AND f.timestamp > ? ORDER BY f.timestamp, f.id',
        undef, $node->{id}, ($timestamp && $timestamp =~ /^\d+$/) ? $timestamp : 0);
    return Apache2::Const::SERVER_ERROR unless $rows;
    $r->content_type('text/plain');
    for my $f (@$rows) {
        my ($id, $name, $uid, $gid, $ftype, $mode, $ts, $path) = @$f;
        $r->print(sprintf("%s %s %s %s %s%04o %s %s\n", $id, $name, $uid || 0, $gid || 0, $ftype eq '-' ? ' ' : $ftype, $mode || 0, $ts, $path));
    }
    return Apache2::Const::OK;
}

sub file_content {
    my ($r, $node, $fileid) = @_;
    my $obj = $DBH->selectrow_hashref('SELECT id, ftype, checksum FROM fileobj WHERE id = ?', undef, $fileid);
    return file_error($r, 400) unless $obj;
    my $buf = content_of($obj);
    # The genuine master checks its cached copy against the object's MD5 on every request.
    return file_error($r, 500) unless defined $buf && Digest::MD5::md5_hex($buf) eq $obj->{checksum};
    $buf = expand($buf, $node) if $obj->{ftype} eq '-' && index($buf, '%{') >= 0;
    $r->content_type('application/octet-stream');
    $r->set_content_length(length $buf);
    $r->print($buf) if length $buf;
    return Apache2::Const::OK;
}

sub handle_file {
    my ($r, $q) = @_;
    my $hwaddr = $q->{hwaddr} // '';
    return file_error($r, 400) unless $hwaddr =~ /^[A-Za-z0-9:]+$/;
    my $node = node_by_hwaddr($hwaddr) or return file_error($r, 404);
    my $fileid = $q->{fileid};
    return file_list($r, $node, $q->{timestamp}) if !defined $fileid || $fileid eq '' || $fileid eq '0';
    return file_error($r, 400) unless $fileid =~ /^[0-9]+$/;
    return file_content($r, $node, $fileid);
}

# /WW/script and /WW/nodeconfig: text/html, chunked (PROTOCOL 2.7): the first line is flushed alone.
sub send_chunked {
    my ($r, @parts) = @_;
    $r->content_type('text/html; charset=UTF-8');
    my $first = 1;
    for my $p (@parts) {
        next unless length $p;
        $r->print($p);
        if ($first) { $r->rflush; $first = 0; }
    }
    return Apache2::Const::OK;
}

sub handle_script {
    my ($r, $q) = @_;
    my $hwaddr = $q->{hwaddr} // '';
    return Apache2::Const::HTTP_BAD_REQUEST unless $hwaddr =~ /^[A-Za-z0-9:]+$/;
    my $type = $q->{type} // '';
    return Apache2::Const::HTTP_BAD_REQUEST unless $type =~ /^[A-Za-z0-9._-]+$/;
    my $node = node_by_hwaddr($hwaddr) or return Apache2::Const::NOT_FOUND;
    my $rows = $DBH->selectall_arrayref(
        'SELECT f.id, f.format FROM node_script s JOIN fileobj f ON f.id = s.file_id WHERE s.node_id = ? AND s.type = ? ORDER BY s.ord',
        undef, $node->{id}, $type) or return Apache2::Const::SERVER_ERROR;
    my @parts;
    for my $f (@$rows) {
        next unless ($f->[1] // '') eq 'shell';
        my $buf = content_of({ id => $f->[0] });
        push @parts, expand($buf, $node) if defined $buf;
    }
    return send_chunked($r, @parts);
}

sub handle_nodeconfig {
    my ($r, $q) = @_;
    my $hwaddr = $q->{hwaddr} // '';
    return Apache2::Const::HTTP_BAD_REQUEST unless $hwaddr =~ /^[A-Za-z0-9:]+$/;
    my $node = node_by_hwaddr($hwaddr) or return Apache2::Const::NOT_FOUND;
    my %attr = %{ $node->{attr} };
    my (@lines, @last);
    for my $k (keys %attr) {    # hash order: it varies, as the genuine master's does
        my $key = uc($k) =~ /^WW/ ? uc($k) : 'WW' . uc($k);
        (my $v = $attr{$k}) =~ s/(["\\\$`])/\\$1/g;
        my $pair = "$key=\"$v\"\nexport $key\n";
        if ($key =~ /^WWVNFS_(NAME|CHECKSUM)$/) { push @last, $pair } else { push @lines, $pair }
    }
    return send_chunked($r, @lines, sort @last);
}

sub handler {
    my ($r) = @_;
    $REQUESTS++;
    my $ctl = $r->dir_config('StormControlDir');
    my $fraction = $r->dir_config('StormBusyFraction') || 0;
    if (($ctl && -e "$ctl/busy") || ($fraction > 0 && rand() < $fraction)) {
        $r->err_headers_out->set('Retry-After' => '30');
        return Apache2::Const::HTTP_SERVICE_UNAVAILABLE;
    }
    unless ($COMPILED) {
        burn_cpu($r->dir_config('StormFirstCpuMs'));
        $COMPILED = 1;
    }
    connect_db($r) or return Apache2::Const::SERVER_ERROR;
    burn_cpu($r->dir_config('StormRequestCpuMs'));
    my $wait = $r->dir_config('StormRequestWaitMs') || 0;
    Time::HiRes::sleep($wait / 1000) if $wait > 0;

    my $q = query($r);
    my $uri = $r->uri;
    my $rc = $uri eq '/WW/file' ? handle_file($r, $q)
      : $uri eq '/WW/script' ? handle_script($r, $q)
      : $uri eq '/WW/nodeconfig' ? handle_nodeconfig($r, $q)
      : Apache2::Const::NOT_FOUND;
    if ($DBH && $DBH->err && !$DBH->ping) {
        # The server went away: forget the handle so that the next request connects again.
        $r->log_error('database handle lost: ' . ($DBH->errstr // ''));
        undef $DBH;
    }
    return $rc;
}

1;
