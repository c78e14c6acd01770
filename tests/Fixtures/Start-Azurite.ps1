<#
.SYNOPSIS
    Starts Azurite (Microsoft's Azure Storage emulator, npm azurite 3.37.0) on loopback for the blob state store tests,
    and stops it again with -Stop.
.DESCRIPTION
    Installs the package into tests/Fixtures/azurite/node_modules (npm ci, only when it is missing), then runs
    azurite-blob on 127.0.0.1:<free port> with a throwaway folder and waits (30 s at most) for it to listen. The
    state file (-StatePath) keeps the pid and folder for -Stop. Never throws for a missing node or npm: it returns
    Available = $false and the Reason. The account is Azurite's published development account (devstoreaccount1).
.OUTPUTS
    An object: Available, Port, Reason, Started.
.EXAMPLE
    $azurite = & tests/Fixtures/Start-Azurite.ps1
    & tests/Fixtures/Start-Azurite.ps1 -Stop
#>
param(
    [switch] $Stop,
    [string] $StatePath = (Join-Path ([IO.Path]::GetTempPath()) 'deployment-rollback-azurite.json')
)

$ErrorActionPreference = 'Stop'
$packageDir = Join-Path $PSScriptRoot 'azurite'

function Stop-Azurite {
    if (-not (Test-Path $StatePath)) { return }
    $state = Get-Content -Raw $StatePath | ConvertFrom-Json
    $process = Get-Process -Id $state.Pid -ErrorAction SilentlyContinue
    if ($process -and $process.Path -match 'node') { $process.Kill($true); $process.WaitForExit() }
    Remove-Item -Recurse -Force $state.DataPath -ErrorAction SilentlyContinue
    Remove-Item $StatePath -Force
}

if ($Stop) { Stop-Azurite; return }
Stop-Azurite

$result = [ordered]@{ Available = $false; Port = $null; Reason = $null; Started = $false }
if (-not (Get-Command node -ErrorAction SilentlyContinue) -or -not (Get-Command npm -ErrorAction SilentlyContinue)) {
    $result.Reason = 'node and npm are not installed'
    return [pscustomobject]$result
}
if (-not (Test-Path (Join-Path $packageDir 'node_modules/azurite'))) {
    Push-Location $packageDir
    try { & npm ci --no-audit --no-fund --loglevel=error 2>&1 | Out-Host } finally { Pop-Location }
    if ($LASTEXITCODE) { $result.Reason = "npm ci in $packageDir failed (exit $LASTEXITCODE)"; return [pscustomobject]$result }
}

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
$listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
$dataPath = Join-Path ([IO.Path]::GetTempPath()) "deployment-rollback-azurite-$([guid]::NewGuid().ToString('N').Substring(0, 10))"
New-Item -ItemType Directory $dataPath | Out-Null
$process = Start-Process -FilePath (Join-Path $packageDir 'node_modules/.bin/azurite-blob') -PassThru `
    -ArgumentList @('--blobHost', '127.0.0.1', '--blobPort', $port, '--location', $dataPath, '--silent', '--skipApiVersionCheck', '--loose') `
    -RedirectStandardOutput (Join-Path $dataPath 'azurite.out') -RedirectStandardError (Join-Path $dataPath 'azurite.err')
[ordered]@{ Pid = $process.Id; DataPath = $dataPath; Port = $port } | ConvertTo-Json | Set-Content $StatePath
$deadline = [DateTime]::UtcNow.AddSeconds(30)
while ([DateTime]::UtcNow -lt $deadline) {
    $client = [System.Net.Sockets.TcpClient]::new()
    try { $client.Connect('127.0.0.1', $port); $result.Available = $true; break } catch { Start-Sleep -Milliseconds 100 } finally { $client.Dispose() }
}
$result.Started = $true
$result.Port = $port
if (-not $result.Available) { $result.Reason = "Azurite did not listen on port $port within 30 s" }
[pscustomobject]$result
