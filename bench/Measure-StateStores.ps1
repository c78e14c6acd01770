<#
.SYNOPSIS
    Shared state store figures for docs/BENCHMARKS.md: a real PostgreSQL (a throwaway cluster) and Azurite, started
    here and stopped again, against the local folder. Returns the report's markdown lines, or a line saying why not.
    Expects the module imported by the caller.
.DESCRIPTION
    1. One rollback's state cost: Invoke-Rollback -Strategy Config on a small file (the file switch itself is a few
       microseconds, so the time is the state work: lock, journal, checkpoint, signals, report of the run), in this
       process, alternating the stores each round; medians of -Runs. The ratio is each store against the local folder.
    2. Throughput: 8 child pwsh processes (each its own temp folder as home, as workers with no shared disk), each
       rolling back 25 targets of its own (200 rollbacks), all on one store; wall time from the first start to the
       last exit, and the rollbacks per second this gives (process start and module import included).
    3. Lock hand-over: a child holds a target (its restart step sleeps), a second child waits for it, the holder is
       killed with kill -9; the time from the kill to the waiter's attempt start. -HandOverRuns rounds per store.
#>
param(
    [ValidateRange(1, 50)] [int] $Runs = 20,
    [ValidateRange(1, 10)] [int] $HandOverRuns = 5
)

$ErrorActionPreference = 'Stop'
$invariant = [Globalization.CultureInfo]::InvariantCulture
$modulePath = Join-Path (Get-Module DeploymentRollback).ModuleBase 'DeploymentRollback.psd1'
$isRoot = $IsLinux -and [Environment]::UserName -eq 'root'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
function Find-Tool([string] $name) {
    $command = Get-Command $name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($command) { return $command.Source }
    Get-ChildItem /usr/lib/postgresql/*/bin/$name -ErrorAction SilentlyContinue | Select-Object -Last 1 -ExpandProperty FullName
}
function Invoke-Pg([string] $tool, [string[]] $arguments) {
    $path = Find-Tool $tool
    $output = if ($isRoot) { & runuser -u postgres -- $path @arguments 2>&1 } else { & $path @arguments 2>&1 }
    if ($LASTEXITCODE) { throw "$tool failed: $output" }
}
function Get-PwshCommand {
    $self = [Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ([IO.Path]::GetFileNameWithoutExtension($self) -eq 'dotnet') { @($self, [Environment]::GetCommandLineArgs()[0]) } else { @($self) }
}
function Start-Child([hashtable] $Environment, [string] $Script) {
    $file = Join-Path $work "child-$([guid]::NewGuid().ToString('N')).ps1"
    Set-Content $file "`$ErrorActionPreference = 'Stop'; `$ProgressPreference = 'SilentlyContinue'; Import-Module '$modulePath'`n$Script"
    $pwsh = Get-PwshCommand
    $info = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
    foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $file)) { $info.ArgumentList.Add($a) }
    $info.RedirectStandardOutput = $true; $info.RedirectStandardError = $true; $info.UseShellExecute = $false
    foreach ($key in $Environment.Keys) { $info.Environment[$key] = $Environment[$key] }
    $process = [Diagnostics.Process]::Start($info)
    [pscustomobject]@{ Process = $process; Output = $process.StandardOutput.ReadToEndAsync(); Error = $process.StandardError.ReadToEndAsync() }
}
function New-Target([string] $folder) {
    New-Item -ItemType Directory -Force $folder | Out-Null
    Set-Content (Join-Path $folder 'app.yml') "image: shop:v2`n"
    Set-Content (Join-Path $folder 'app.previous.yml') "image: shop:v1`n"
    Join-Path $folder 'app.yml'
}

$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-stores-$PID"
New-Item -ItemType Directory -Force $work | Out-Null
$pgData = Join-Path $work 'pg'
$azuriteState = Join-Path $work 'azurite.json'
$azurite = $null
try {
    if (-not (Find-Tool initdb) -or -not (Find-Tool pg_ctl) -or -not (Find-Tool psql)) { return @('', '## Shared state stores', '', 'Not measured: the PostgreSQL server binaries are not installed.') }
    $azurite = & (Join-Path $PSScriptRoot '../tests/Fixtures/Start-Azurite.ps1') -StatePath $azuriteState
    if (-not $azurite.Available) { return @('', '## Shared state stores', '', "Not measured: $($azurite.Reason).") }
    if ($isRoot) { & chown postgres $work }
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0); $listener.Start(); $pgPort = $listener.LocalEndpoint.Port; $listener.Stop()
    Invoke-Pg initdb @('-D', $pgData, '-A', 'trust', '-U', 'postgres', '--no-sync')
    # Durable settings (fsync on), as a production server would run.
    Invoke-Pg pg_ctl @('-w', '-D', $pgData, '-l', (Join-Path $work 'pg.log'), '-o', "-p $pgPort -k $pgData -c listen_addresses=127.0.0.1", 'start')
    $azuriteKey = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu' + 'Fq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
    $counter = 0
    function New-Store([string] $kind) {
        $script:counter++
        $name = "bench$($script:counter)"
        switch ($kind) {
            'Local' { return $null }
            'PostgreSQL' { & (Find-Tool psql) -h 127.0.0.1 -p $pgPort -U postgres -d postgres -qc "CREATE DATABASE $name" | Out-Null; "postgresql://postgres@127.0.0.1:$pgPort/$name" }
            'AzureBlob' { "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$azuriteKey;BlobEndpoint=http://127.0.0.1:$($azurite.Port)/devstoreaccount1;Container=$name" }
        }
    }
    $kinds = 'Local', 'PostgreSQL', 'AzureBlob'

    # 1. One rollback, in this process.
    $stores = @{}; $homes = @{}; $targets = @{}; $times = @{}
    foreach ($kind in $kinds) {
        $stores[$kind] = New-Store $kind
        $homes[$kind] = Join-Path $work "one-$kind"
        $targets[$kind] = New-Target (Join-Path $work "one-$kind-target")
        $times[$kind] = [Collections.Generic.List[double]]::new()
    }
    function Invoke-One([string] $kind) {
        $arguments = @{ Strategy = 'Config'; Path = $targets[$kind]; PreviousPath = 'app.previous.yml'; StateDirectory = $homes[$kind]; Confirm = $false }
        if ($stores[$kind]) { $arguments.StateStore = $stores[$kind] }
        # Deploy the "bad" file again so every rollback does the same work.
        Set-Content $targets[$kind] "image: shop:v2`n"
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-Rollback @arguments
        $watch.Stop()
        if ($result.Outcome -ne 'Succeeded') { throw "$kind rollback $($result.Outcome): $($result.Message)" }
        $watch.Elapsed.TotalMilliseconds
    }
    foreach ($kind in $kinds) { $null = Invoke-One $kind }
    for ($i = 0; $i -lt $Runs; $i++) { foreach ($kind in $kinds) { $times[$kind].Add((Invoke-One $kind)) } }
    $one = @{}; foreach ($kind in $kinds) { $one[$kind] = Get-Median $times[$kind] }

    # 2. 8 workers x 25 rollbacks of distinct targets.
    $throughput = @{}
    foreach ($kind in $kinds) {
        $store = New-Store $kind
        $shared = Join-Path $work "workers-$kind-shared"
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $children = foreach ($w in 1..8) {
            $paths = foreach ($t in 1..25) { "'$(New-Target (Join-Path $work "workers-$kind/w$w-t$t"))'" }
            $environment = @{ DEPLOYMENT_ROLLBACK_HOME = if ($store) { Join-Path $work "workers-$kind-home$w" } else { $shared } }
            if ($store) { $environment.DEPLOYMENT_ROLLBACK_STATE = $store }
            Start-Child $environment "foreach (`$p in $($paths -join ',')) { `$r = Invoke-Rollback -Strategy Config -Path `$p -PreviousPath app.previous.yml -Confirm:`$false; if (`$r.Outcome -ne 'Succeeded') { throw `$r.Message } }"
        }
        foreach ($child in $children) {
            $child.Process.WaitForExit()
            if ($child.Process.ExitCode) { throw "A $kind worker failed: $($child.Error.Result)" }
        }
        $throughput[$kind] = $watch.Elapsed.TotalSeconds
    }

    # 3. Lock hand-over after kill -9.
    $handOver = @{}
    foreach ($kind in $kinds) {
        $samples = [Collections.Generic.List[double]]::new()
        for ($i = 0; $i -lt $HandOverRuns; $i++) {
            $store = New-Store $kind
            $killHome = Join-Path $work "kill-$kind-$i"
            $target = New-Target (Join-Path $work "kill-$kind-$i-target")
            $environment = @{ DEPLOYMENT_ROLLBACK_HOME = "$killHome-a" }
            if ($store) { $environment.DEPLOYMENT_ROLLBACK_STATE = $store } else { $environment.DEPLOYMENT_ROLLBACK_HOME = $killHome }
            $holder = Start-Child $environment "Invoke-Rollback -Strategy Config -Path '$target' -PreviousPath app.previous.yml -RestartScript { Start-Sleep 300 } -Confirm:`$false"
            $query = @{ StateDirectory = if ($store) { Join-Path $work "kill-$kind-$i-q" } else { $killHome } }
            if ($store) { $query.StateStore = $store }
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not ($held = Get-RollbackLock @query) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            if ($store) { $environment.DEPLOYMENT_ROLLBACK_HOME = "$killHome-b" }
            # The waiter holds the target for a while once it has it, so its lock (and when it took it) can be read.
            $waiter = Start-Child $environment "`$null = Invoke-Rollback -Strategy Config -Path '$target' -PreviousPath app.previous.yml -LockTimeoutSec 120 -RestartScript { Start-Sleep 3 } -Confirm:`$false 3>`$null"
            # Killed at a random point of the holder's 5 s renewal period, as a crash would be.
            Start-Sleep -Milliseconds (Get-Random -Minimum 4000 -Maximum 9000)
            $holder.Process.Kill()
            $killedAt = [DateTimeOffset]::UtcNow
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not ($taken = Get-RollbackLock @query | Where-Object FencingToken -GT $held.FencingToken) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            $waiter.Process.WaitForExit()
            if ($waiter.Process.ExitCode) { throw "The $kind waiter failed: $($waiter.Error.Result)" }
            if (-not (Get-RollbackHistory @query | Where-Object Outcome -EQ 'Interrupted')) { throw "The $kind waiter did not mark the killed holder's attempt Interrupted." }
            $samples.Add(($taken.AcquiredAt - $killedAt).TotalMilliseconds)
        }
        $handOver[$kind] = $samples
    }

    $yes = { param($ok) if ($ok) { 'yes' } else { '**no**' } }
    $lines = @(
        ''
        '## Shared state stores'
        ''
        "A real PostgreSQL $((& (Find-Tool postgres) --version) -replace '^postgres \(PostgreSQL\) ', '') (a throwaway cluster on loopback, fsync on) and Azurite 3.37.0 (Microsoft's Azure Storage emulator, on loopback), against the local folder (SQLite on this machine's disk). Loopback has no network latency: against a server across a network each journal write or read adds its round trip."
        ''
        '| Measurement | Local | PostgreSQL | Azure Blob (Azurite) | Goal | Met |'
        '|---|---:|---:|---:|---|---|'
        ("| One Config rollback, whole run (lock, journal, checkpoint, signals; median of {0}, warm) | {1:0.0} ms | {2:0.0} ms | {3:0.0} ms | | |" -f $Runs, $one.Local, $one.PostgreSQL, $one.AzureBlob)
        ("| Ratio against the local folder | 1.00 | **{0:0.00}** | {1:0.00} | PostgreSQL <= 1.5 | {2} |" -f ($one.PostgreSQL / $one.Local), ($one.AzureBlob / $one.Local), (& $yes (($one.PostgreSQL / $one.Local) -le 1.5)))
        ("| 8 workers x 25 rollbacks of distinct targets, wall time (process start and import included) | {0:0.0} s | {1:0.0} s | {2:0.0} s | | |" -f $throughput.Local, $throughput.PostgreSQL, $throughput.AzureBlob)
        ("| The same as rollbacks per second | {0:0.0} | {1:0.0} | {2:0.0} | | |" -f (200 / $throughput.Local), (200 / $throughput.PostgreSQL), (200 / $throughput.AzureBlob))
        ("| Lock hand-over after kill -9 of the holder (median of {0}; max) | {1:0} ms ({2:0}) | {3:0} ms ({4:0}) | {5:0} ms ({6:0}) | PostgreSQL <= 1000 ms, blob <= lease TTL 15000 ms | {7} |" -f $HandOverRuns,
            (Get-Median $handOver.Local), ($handOver.Local | Measure-Object -Maximum).Maximum,
            (Get-Median $handOver.PostgreSQL), ($handOver.PostgreSQL | Measure-Object -Maximum).Maximum,
            (Get-Median $handOver.AzureBlob), ($handOver.AzureBlob | Measure-Object -Maximum).Maximum,
            (& $yes ((($handOver.PostgreSQL | Measure-Object -Maximum).Maximum -le 1000) -and (($handOver.AzureBlob | Measure-Object -Maximum).Maximum -le 15000))))
        ''
        'The local and PostgreSQL figures are some ten milliseconds apart and move from run to run on a 2-processor machine, so the ratio moves a lot with them. The local folder keeps its SQLite connections for the command and writes lock rows without an fsync; PostgreSQL keeps its sessions for the process (a new one costs about 20 ms here) and makes about 20 round trips of about 1 ms per rollback (each commit waits for the server''s fsync). No wedge in any run: every waiter got the target after its holder was killed, and marked the holder''s attempt Interrupted. The hand-over is measured from the kill to the moment the waiter took the lock (its AcquiredAt, as Get-RollbackLock shows it), so it includes the waiter''s 200 ms lock poll; for blobs it is however much of the 15 s lease was left when the holder died (renewed every 5 s, so 10 to 15 s, plus the poll: a kill just after a renewal cannot hand over in less than the TTL, so the maximum can pass the TTL by up to the poll and the request''s time, and the goal as written cannot always hold).'
        ''
        'Reproduce: `dotnet pwsh build.ps1 Bench -Only StateStores` (this section only).'
    )
    $lines
}
finally {
    if ($azurite -and $azurite.Started) { & (Join-Path $PSScriptRoot '../tests/Fixtures/Start-Azurite.ps1') -Stop -StatePath $azuriteState }
    if (Test-Path (Join-Path $pgData 'postmaster.pid')) { Invoke-Pg pg_ctl @('-D', $pgData, '-m', 'immediate', '-w', 'stop') }
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
