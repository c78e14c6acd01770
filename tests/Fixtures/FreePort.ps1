# Get-FreePort, dot-sourced by the test helpers and the fixture scripts: a free TCP port on loopback for a server that
# is started a moment later.
#
# The port is chosen below the kernel's ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by
# default; Windows and macOS start theirs at 49152). The kernel hands ports of that range to every outgoing connection
# and every bind to port 0, so a port picked there could be taken by some other connection before the server binds it,
# and the server would fail to start. Below the range only a server that names its port can take it.
function Get-FreePort {
    $low = 32768
    $range = '/proc/sys/net/ipv4/ip_local_port_range'
    if (Test-Path $range) { $low = [int]((Get-Content -Raw $range).Trim() -split '\s+')[0] }
    for ($i = 0; $i -lt 100 -and $low -gt 11000; $i++) {
        $port = Get-Random -Minimum 10000 -Maximum $low
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $port)
        try { $listener.Start(); return $port } catch [System.Net.Sockets.SocketException] { } finally { $listener.Stop() }
    }
    # No room below the range (or every try taken): the kernel's own choice.
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}
