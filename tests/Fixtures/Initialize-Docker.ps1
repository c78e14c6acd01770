<#
.SYNOPSIS
    Makes the Docker engine the tests need available: starts dockerd on its local socket if it is installed and not
    running, and builds the test images offline from busybox (no registry is reachable): drtest/app (2.3.0 healthy,
    2.3.1 not) and drtest/app-logs (the same, printing logs). Prints what it did.
.OUTPUTS
    An object: Available (bool), Started (bool: this script started dockerd; stop it with -Stop), Reason.
#>
param(
    [switch] $Stop,
    [string] $LogPath = (Join-Path ([IO.Path]::GetTempPath()) 'deployment-rollback-dockerd.log')
)

$ErrorActionPreference = 'Stop'
$socket = '/var/run/docker.sock'
$pidFile = Join-Path ([IO.Path]::GetTempPath()) 'deployment-rollback-dockerd.pid'

function Test-Engine {
    if (-not (Test-Path $socket)) { return $false }
    try {
        $client = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::Unix, [System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Unspecified)
        $client.Connect([System.Net.Sockets.UnixDomainSocketEndPoint]::new($socket))
        $request = [Text.Encoding]::ASCII.GetBytes("GET /_ping HTTP/1.0`r`nHost: docker`r`n`r`n")
        $null = $client.Send($request)
        $buffer = [byte[]]::new(256)
        $read = $client.Receive($buffer)
        $client.Dispose()
        return [Text.Encoding]::ASCII.GetString($buffer, 0, $read) -match '200 OK'
    }
    catch { return $false }
}

if ($Stop) {
    if (Test-Path $pidFile) {
        $id = [int](Get-Content $pidFile)
        # SIGTERM first, so that dockerd shuts down and removes its own pid file (Stop-Process sends SIGKILL on Linux,
        # which left /var/run/docker.pid behind and made the next start fail); SIGKILL only when it does not end.
        if ($IsWindows) { Stop-Process -Id $id -ErrorAction SilentlyContinue } else { & kill -TERM $id 2>$null }
        Wait-Process -Id $id -Timeout 20 -ErrorAction SilentlyContinue
        Stop-Process -Id $id -ErrorAction SilentlyContinue
        Remove-Item $pidFile
        Write-Host "Stopped the dockerd this run started (pid $id)."
    }
    return
}

$started = $false
if (-not (Test-Engine)) {
    $dockerd = Get-Command dockerd -ErrorAction SilentlyContinue
    if (-not $dockerd) { return [pscustomobject]@{ Available = $false; Started = $false; Reason = 'dockerd is not installed (apt-get install docker.io)' } }
    if ($IsLinux -and (id -u) -ne 0) { return [pscustomobject]@{ Available = $false; Started = $false; Reason = 'dockerd is not running, and only root can start it' } }
    # A pid file whose process is gone (a dockerd killed earlier) would make dockerd refuse to start.
    $enginePidFile = '/var/run/docker.pid'
    if ($IsLinux -and (Test-Path $enginePidFile)) {
        $enginePid = 0
        if (-not [int]::TryParse((Get-Content -Raw $enginePidFile).Trim(), [ref] $enginePid) -or -not (Get-Process -Id $enginePid -ErrorAction SilentlyContinue)) {
            Remove-Item $enginePidFile -Force
        }
    }
    # No iptables and no default bridge: the tests use host networking on loopback only.
    $process = Start-Process $dockerd.Source -ArgumentList '--iptables=false', '--bridge=none' -RedirectStandardOutput $LogPath -RedirectStandardError "$LogPath.err" -PassThru
    Set-Content $pidFile $process.Id
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not (Test-Engine) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
    if (-not (Test-Engine)) { return [pscustomobject]@{ Available = $false; Started = $true; Reason = "dockerd did not answer within 30 s (see $LogPath.err)" } }
    $started = $true
    Write-Host "Started dockerd (pid $($process.Id))."
}

$docker = (Get-Command docker -CommandType Application | Where-Object Source -EQ '/usr/bin/docker' | Select-Object -First 1) ?? (Get-Command docker -CommandType Application | Select-Object -First 1)
function Invoke-Docker { $output = & $docker.Source @args 2>&1; if ($LASTEXITCODE) { throw "docker $args failed: $output" }; $output }

$images = @(Invoke-Docker images --format '{{.Repository}}:{{.Tag}}')
if ('drtest/busybox:base' -notin $images) {
    # The static build: the test images have no C library.
    $busybox = @('/bin/busybox', '/usr/bin/busybox') | Where-Object { Test-Path $_ } | Select-Object -First 1
    if (-not $busybox) { return [pscustomobject]@{ Available = $false; Started = $started; Reason = 'busybox is not installed (apt-get install busybox-static)' } }
    $rootfs = Join-Path ([IO.Path]::GetTempPath()) "dr-rootfs-$PID"
    New-Item -ItemType Directory -Force "$rootfs/bin", "$rootfs/tmp", "$rootfs/www" | Out-Null
    Copy-Item $busybox "$rootfs/bin/busybox"
    foreach ($applet in 'sh', 'httpd', 'wget', 'sleep', 'cat', 'echo', 'mkdir', 'test', 'env', 'kill', 'ps', 'ls', 'true', 'false') {
        $null = New-Item -ItemType SymbolicLink -Path "$rootfs/bin/$applet" -Target 'busybox'
    }
    tar -C $rootfs -cf "$rootfs.tar" .
    Invoke-Docker import --change 'CMD ["/bin/sh"]' "$rootfs.tar" drtest/busybox:base | Out-Null
    Remove-Item $rootfs, "$rootfs.tar" -Recurse -Force
}
$context = Join-Path $PSScriptRoot 'app-image'
foreach ($release in @(@('2.3.0', 'good'), @('2.3.1', 'bad'))) {
    if ("drtest/app:$($release[0])" -notin $images) {
        Invoke-Docker build -q --build-arg "VERSION=$($release[0])" --build-arg "WWW=$($release[1])" -t "drtest/app:$($release[0])" $context | Out-Null
    }
}
# The same apps printing logs at start: 2.3.1 (unhealthy) with error lines, 2.3.0 (healthy) with few, 2.2.9 (healthy) with many.
foreach ($variant in @(@('2.3.1', '2.3.1', 'failing'), @('2.3.0', '2.3.0', 'quiet'), @('2.2.9', '2.3.0', 'noisy'))) {
    if ("drtest/app-logs:$($variant[0])" -notin $images) {
        Invoke-Docker build -q -f (Join-Path $context 'logs.Dockerfile') --build-arg "BASE=drtest/app:$($variant[1])" --build-arg "LOG=logs/$($variant[2])" -t "drtest/app-logs:$($variant[0])" $context | Out-Null
    }
}
[pscustomobject]@{ Available = $true; Started = $started; Reason = 'engine up, images drtest/app:2.3.0 and drtest/app:2.3.1 (and drtest/app-logs) present' }
