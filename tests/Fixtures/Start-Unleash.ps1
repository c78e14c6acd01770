<#
.SYNOPSIS
    Starts a real Unleash server (unleash-server 7.5.1 from npm, on a throwaway PostgreSQL cluster) on loopback for the
    integration tests, with test data, and stops it again with -Stop.
.DESCRIPTION
    - Installs unleash-server into tests/Fixtures/unleash/node_modules (npm install, only when node_modules is missing).
    - initdb + pg_ctl start a PostgreSQL cluster in a temp folder, as the 'postgres' OS user when run as root
      (created if missing), on a free loopback port; then CREATE DATABASE unleash.
    - Starts node node_modules/unleash-server/dist/server.js on 127.0.0.1:<Port> with a random admin token and a random
      backend (client) token, logging to unleash.log in the temp folder, and waits (60 s at most) for /health.
    - Creates, in project 'default', the flag 'new-checkout' enabled in every environment of the project (development
      and production in 7.5.1) and the flag 'already-off' disabled everywhere.
    - Writes a state file (-StatePath, JSON: pids, ports, folders, and Url, AdminToken, ClientToken, Project, Environment
      once up) that -Stop reads: it stops node (the process tree) and the cluster (pg_ctl stop -m fast) and deletes the
      temp folder. A state file left by a run that was not stopped is stopped first.
    Never throws for a missing prerequisite (node, npm, initdb, pg_ctl, psql): it returns Available = $false and the Reason.
.OUTPUTS
    An object: Available, Url (http://127.0.0.1:port), AdminToken, ClientToken (a backend token for /api/client/*,
    environment = Environment), Project ('default'), Environment ('production' when the flag is on there, else
    'development'), Reason, Started (this call started processes; stop them with -Stop), PostgresPort, DataPath, LogPath.
.EXAMPLE
    $unleash = & tests/Fixtures/Start-Unleash.ps1
    Invoke-RestMethod "$($unleash.Url)/api/admin/projects/default/features/new-checkout" -Headers @{ Authorization = $unleash.AdminToken } -SkipHeaderValidation
    & tests/Fixtures/Start-Unleash.ps1 -Stop
#>
param(
    [switch] $Stop,
    [int] $Port = 0,
    [string] $StatePath = (Join-Path ([IO.Path]::GetTempPath()) 'deployment-rollback-unleash.json'),
    [int] $TimeoutSeconds = 60
)

$ErrorActionPreference = 'Stop'
$packageDir = Join-Path $PSScriptRoot 'unleash'
$project = 'default'
$isRoot = $IsLinux -and [Environment]::UserName -eq 'root'

. (Join-Path $PSScriptRoot 'FreePort.ps1')

function New-HexToken([int] $bytes = 24) {
    [Convert]::ToHexString([System.Security.Cryptography.RandomNumberGenerator]::GetBytes($bytes)).ToLowerInvariant()
}

# A program's path: from PATH, else (for the PostgreSQL tools, which Debian's packages keep off PATH) from the newest
# /usr/lib/postgresql/<version>/bin. $null when missing.
function Find-Tool([string] $name) {
    $command = Get-Command $name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($command) { return $command.Source }
    Get-ChildItem /usr/lib/postgresql/*/bin/$name -ErrorAction SilentlyContinue |
        Sort-Object { [int]($_.FullName -replace '^/usr/lib/postgresql/(\d+).*$', '$1') } -Descending |
        Select-Object -First 1 -ExpandProperty FullName
}

# Runs a PostgreSQL tool: as the 'postgres' user when we are root (initdb and postgres refuse to run as root).
function Invoke-PgTool([string] $tool, [string[]] $arguments) {
    $tool = Find-Tool $tool
    $output = if ($isRoot) { & runuser -u postgres -- $tool @arguments 2>&1 } else { & $tool @arguments 2>&1 }
    if ($LASTEXITCODE) { throw "$tool $($arguments -join ' ') failed (exit $LASTEXITCODE): $($output -join "`n")" }
    $output
}

function Test-OurNode([int] $id) {
    # The pid is ours only while it is still the node that runs server.js (pids get reused).
    $cmdline = "/proc/$id/cmdline"
    (Test-Path $cmdline) -and ((Get-Content -Raw $cmdline) -match 'unleash-server')
}

# The pid and all its descendants (from /proc: the parent pid is the 4th field of /proc/<pid>/stat, after the name).
function Get-ProcessTree([int] $root) {
    $children = @{}
    foreach ($stat in Get-ChildItem /proc/[0-9]*/stat -ErrorAction SilentlyContinue) {
        try { $fields = (Get-Content -Raw $stat.FullName -ErrorAction Stop) -replace '^.*\)\s+', '' -split '\s+' } catch { continue }
        $children[[int]$fields[1]] += @([int]$stat.Directory.Name)
    }
    $tree = [Collections.Generic.List[int]]::new()
    $queue = [Collections.Generic.Queue[int]]::new(); $queue.Enqueue($root)
    while ($queue.Count) {
        $id = $queue.Dequeue(); $tree.Add($id)
        foreach ($child in @($children[$id])) { if ($child) { $queue.Enqueue($child) } }
    }
    $tree
}

function Stop-Unleash([object] $state) {
    if ($state.NodePid -and (Test-OurNode $state.NodePid)) {
        $tree = @(Get-ProcessTree $state.NodePid)
        $process = Get-Process -Id $state.NodePid -ErrorAction SilentlyContinue
        # Unleash shuts down gracefully on SIGTERM (in about a second); whatever is left after 10 s gets SIGKILL.
        kill -TERM $state.NodePid 2>$null
        if ($process -and -not $process.WaitForExit(10000)) { Write-Warning "Unleash (pid $($state.NodePid)) ignored SIGTERM: killing it" }
        foreach ($id in $tree) { Get-Process -Id $id -ErrorAction SilentlyContinue | Stop-Process -Force -ErrorAction SilentlyContinue }
    }
    if ($state.PgData -and (Test-Path (Join-Path $state.PgData 'postmaster.pid'))) {
        try { Invoke-PgTool pg_ctl @('-D', $state.PgData, '-m', 'fast', '-w', 'stop') | Out-Null }
        catch { Write-Warning $_.Exception.Message }
    }
    if ($state.DataPath -and (Test-Path $state.DataPath)) { Remove-Item -Recurse -Force $state.DataPath }
}

function Read-State {
    if (-not (Test-Path $StatePath)) { return $null }
    try { Get-Content -Raw $StatePath | ConvertFrom-Json } catch { $null }
}

if ($Stop) {
    $state = Read-State
    if ($state) {
        Stop-Unleash $state
        Remove-Item $StatePath -Force
        Write-Host "Stopped the Unleash server (pid $($state.NodePid)) and its PostgreSQL cluster (port $($state.PostgresPort)); removed $($state.DataPath)."
    }
    return
}

function New-Result([bool] $available, [string] $reason, [bool] $started = $false) {
    [pscustomobject]@{
        Available = $available; Url = $null; AdminToken = $null; ClientToken = $null; Project = $project
        Environment = $null; Reason = $reason; Started = $started; PostgresPort = $null; DataPath = $null; LogPath = $null
    }
}

# A previous run that was not stopped: stop it first (its ports and temp folder would otherwise leak).
$previous = Read-State
if ($previous) {
    Write-Host "A previous Unleash fixture was not stopped (pid $($previous.NodePid)): stopping it."
    Stop-Unleash $previous
    Remove-Item $StatePath -Force
}

# Prerequisites: a missing one is a Reason, not an exception.
foreach ($tool in 'node', 'npm', 'initdb', 'pg_ctl', 'psql') {
    if (-not (Find-Tool $tool)) {
        return New-Result $false "$tool is not installed (Unleash needs Node.js >= 20 with npm, and PostgreSQL's initdb, pg_ctl and psql)"
    }
}
$nodeExe = Find-Tool node
$nodeVersion = (& $nodeExe --version 2>$null) -replace '^v', ''
if (-not ($nodeVersion -as [version]) -or ([version]$nodeVersion).Major -lt 20) {
    return New-Result $false "unleash-server 7.5.1 needs Node.js >= 20; $nodeExe is '$nodeVersion'"
}
if ($isRoot -and -not (Get-Command runuser -CommandType Application -ErrorAction SilentlyContinue)) {
    return New-Result $false 'runuser is not installed (util-linux): it runs PostgreSQL as the postgres user'
}

$serverJs = Join-Path $packageDir 'node_modules/unleash-server/dist/server.js'
if (-not (Test-Path (Join-Path $packageDir 'node_modules'))) {
    Write-Host 'Installing unleash-server with npm (about a minute)...'
    Push-Location $packageDir
    try { $npmOutput = & npm install --no-audit --no-fund 2>&1 } finally { Pop-Location }
    if ($LASTEXITCODE) {
        Remove-Item -Recurse -Force (Join-Path $packageDir 'node_modules') -ErrorAction SilentlyContinue
        return New-Result $false "npm install failed (exit $LASTEXITCODE): $(($npmOutput | Select-Object -Last 15) -join "`n")"
    }
}
if (-not (Test-Path $serverJs)) { return New-Result $false "$serverJs is missing: delete $packageDir/node_modules and run again" }

if ($isRoot) {
    id -u postgres *> $null
    if ($LASTEXITCODE) {
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres 2>&1 | Out-Null
        if ($LASTEXITCODE) { return New-Result $false 'the postgres OS user is missing and useradd could not create it' }
    }
}

if ($Port -eq 0) { $Port = Get-FreePort }
else {
    try { $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $Port); $probe.Start(); $probe.Stop() }
    catch { return New-Result $false "port $Port on 127.0.0.1 is in use" }
}
$pgPort = Get-FreePort
while ($pgPort -eq $Port) { $pgPort = Get-FreePort }
$dataPath = Join-Path ([IO.Path]::GetTempPath()) "deployment-rollback-unleash-$(New-HexToken 4)"
$pgData = Join-Path $dataPath 'pg'
$logPath = Join-Path $dataPath 'unleash.log'
$adminToken = "*:*.$(New-HexToken)"

New-Item -ItemType Directory -Force $dataPath | Out-Null
if ($isRoot) { chown postgres $dataPath }
$state = [ordered]@{ DataPath = $dataPath; PgData = $pgData; PostgresPort = $pgPort; Port = $Port; NodePid = $null }
function Save-State { $state | ConvertTo-Json | Set-Content $StatePath }
Save-State

$result = New-Result $false '' $true
$clock = [Diagnostics.Stopwatch]::StartNew()
try {
    # The cluster: trust on loopback, no fsync (throwaway), sockets in its own folder.
    Invoke-PgTool initdb @('-D', $pgData, '-A', 'trust', '-U', 'postgres', '--no-sync') | Out-Null
    # -l: the server must not keep our stdout open.
    Invoke-PgTool pg_ctl @('-w', '-t', '30', '-D', $pgData, '-l', (Join-Path $dataPath 'postgres.log'),
        '-o', "-p $pgPort -k $pgData -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", 'start') | Out-Null
    $psqlOutput = & (Find-Tool psql) -h 127.0.0.1 -p $pgPort -U postgres -d postgres -v ON_ERROR_STOP=1 -q -c 'CREATE DATABASE unleash' 2>&1
    if ($LASTEXITCODE) { throw "CREATE DATABASE unleash failed: $psqlOutput" }
    $postgresSeconds = $clock.Elapsed.TotalSeconds

    # The Unleash server. INIT_*_API_TOKENS are created on the first start (the database is new every time).
    $clientToken = "*:production.$(New-HexToken)"
    $environment = @{
        DATABASE_URL          = "postgres://postgres@127.0.0.1:$pgPort/unleash"
        DATABASE_SSL          = 'false'
        HTTP_HOST             = '127.0.0.1'
        HTTP_PORT             = "$Port"
        INIT_ADMIN_API_TOKENS = $adminToken
        INIT_BACKEND_API_TOKENS = $clientToken
        LOG_LEVEL             = 'warn'
        CHECK_VERSION         = 'false'   # no network: no version check
        SEND_TELEMETRY        = 'false'
        UNLEASH_URL           = "http://127.0.0.1:$Port"
        TZ                    = 'UTC'
        NODE_ENV              = 'production'
    }
    $node = Start-Process $nodeExe -ArgumentList $serverJs -WorkingDirectory $packageDir `
        -Environment $environment -RedirectStandardOutput $logPath -RedirectStandardError "$logPath.err" -PassThru
    $state.NodePid = $node.Id
    Save-State

    $url = "http://127.0.0.1:$Port"
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $healthy = $false
    while (-not $healthy -and [DateTime]::UtcNow -lt $deadline -and -not $node.HasExited) {
        try { $healthy = (Invoke-WebRequest "$url/health" -TimeoutSec 2 -SkipHttpErrorCheck).StatusCode -eq 200 } catch { }
        if (-not $healthy) { Start-Sleep -Milliseconds 250 }
    }
    if (-not $healthy) {
        $why = if ($node.HasExited) { "node exited with code $($node.ExitCode)" } else { "no healthy /health within $TimeoutSeconds s" }
        $tail = @(Get-Content $logPath, "$logPath.err" -ErrorAction SilentlyContinue | Select-Object -Last 20) -join "`n"
        throw "Unleash did not start: $why. Log:`n$tail"
    }

    $healthySeconds = $clock.Elapsed.TotalSeconds

    # Test data, through the Admin API. The token goes raw in Authorization ('Bearer <token>' works too), and .NET's
    # header validation rejects a raw '*:*.hex' value: hence -SkipHeaderValidation.
    $headers = @{ Authorization = $adminToken }
    function Invoke-Admin([string] $method, [string] $path, $body) {
        $arguments = @{ Method = $method; Uri = "$url$path"; Headers = $headers; ContentType = 'application/json'; SkipHeaderValidation = $true }
        if ($null -ne $body) { $arguments.Body = $body | ConvertTo-Json -Depth 10 -Compress }
        Invoke-RestMethod @arguments
    }
    Invoke-Admin POST "/api/admin/projects/$project/features" @{ name = 'new-checkout'; type = 'release'; description = 'Integration-test flag: on' } | Out-Null
    Invoke-Admin POST "/api/admin/projects/$project/features" @{ name = 'already-off'; type = 'release'; description = 'Integration-test flag: off everywhere' } | Out-Null
    # The environments of the project (7.5.1: development and production, both enabled).
    $projectEnvironments = @((Invoke-Admin GET "/api/admin/projects/$project/features/new-checkout").environments)
    foreach ($projectEnvironment in $projectEnvironments) {
        # A flag with no strategy in an environment gets the default one (flexibleRollout 100%) when turned on.
        Invoke-Admin POST "/api/admin/projects/$project/features/new-checkout/environments/$($projectEnvironment.name)/on" | Out-Null
    }
    $flag = Invoke-Admin GET "/api/admin/projects/$project/features/new-checkout"
    $enabledIn = @($flag.environments | Where-Object enabled | ForEach-Object name)
    $chosen = if ('production' -in $enabledIn) { 'production' } elseif ('development' -in $enabledIn) { 'development' } else { $null }
    if (-not $chosen) { throw "new-checkout is not enabled in production or development (enabled in: $($enabledIn -join ', '))" }
    if ($chosen -ne 'production') {
        # The initial backend token is for production: make one for the chosen environment.
        $clientToken = (Invoke-Admin POST '/api/admin/api-tokens' @{ tokenName = 'integration-tests'; type = 'client'; environment = $chosen; projects = @('*') }).secret
    }

    $result.Available = $true
    $result.Url = $url
    $result.AdminToken = $adminToken
    $result.ClientToken = $clientToken
    $result.Environment = $chosen
    $result.PostgresPort = $pgPort
    $result.DataPath = $dataPath
    $result.LogPath = $logPath
    # The state file doubles as the connection details for tests that do not get the returned object.
    foreach ($key in 'Url', 'AdminToken', 'ClientToken', 'Project', 'Environment') { $state[$key] = $result.$key }
    Save-State
    $result.Reason = "Unleash 7.5.1 up at $url (pid $($node.Id)); flag new-checkout on in $($enabledIn -join ', '), already-off off everywhere"
    $timing = 'in {0:N1} s (PostgreSQL {1:N1} s, Unleash healthy {2:N1} s, test data {3:N1} s)' -f $clock.Elapsed.TotalSeconds,
        $postgresSeconds, ($healthySeconds - $postgresSeconds), ($clock.Elapsed.TotalSeconds - $healthySeconds)
    Write-Host "Started Unleash at $url (pid $($node.Id)), PostgreSQL on 127.0.0.1:$pgPort, data in $dataPath, $timing."
    $result
}
catch {
    # Leave nothing running behind a failure.
    $reason = $_.Exception.Message
    Stop-Unleash ([pscustomobject]$state)
    Remove-Item $StatePath -Force -ErrorAction SilentlyContinue
    $failure = New-Result $false $reason
    $failure
}
