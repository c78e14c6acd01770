<#
.SYNOPSIS
    Container figures for docs/BENCHMARKS.md, measured on the real Docker engine (started here if installed and
    stopped again), with the offline test images: returns the report's markdown lines, or a line saying why not.
    Expects the module to be imported by the caller (bench/Invoke-Benchmarks.ps1).
    1. Compose: Invoke-Rollback -Strategy DockerCompose -PreviousFile against doing the same by hand
       (docker-compose -f previous up -d, then polling docker inspect until healthy), alternating rounds; the ratio
       against the goal (ours/by hand <= 1.25).
    2. Container: recreate-and-verify time of Invoke-Rollback -Strategy Container, and the share spent waiting
       for the container's health check.
#>
param([ValidateRange(1, 20)] [int] $Runs = 5)

$ErrorActionPreference = 'Stop'
$composeGoal = 1.25
$invariant = [Globalization.CultureInfo]::InvariantCulture
$engine = & (Join-Path $PSScriptRoot '../tests/Fixtures/Initialize-Docker.ps1')
if (-not $engine.Available) {
    return @('', '## Containers', '', "Not measured: $($engine.Reason).")
}

$docker = if (Test-Path /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }
function Invoke-Docker { $output = & $docker @args 2>&1; if ($LASTEXITCODE) { throw "docker $args failed: $output" }; $output }
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
function Format-S([double] $ms) { ($ms / 1000).ToString('0.00', $invariant) }

$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-docker-$PID"
$project = "drbench$PID"
$container = "drbench-$PID"
$state = Join-Path $work 'state'
New-Item -ItemType Directory -Force $work | Out-Null
$compose = (Get-Command docker-compose -ErrorAction SilentlyContinue).Source
try {
    # 1. Compose.
    $webPort = Get-FreePort
    $workerPort = Get-FreePort
    & (Join-Path $PSScriptRoot '../tests/Fixtures/New-ComposeProject.ps1') -Path $work -WebPort $webPort -WorkerPort $workerPort
    function Deploy-Bad { Push-Location $work; try { & $compose -p $project up -d 2>&1 | Out-Null } finally { Pop-Location } }
    $ours = [Collections.Generic.List[double]]::new()
    $first = [Collections.Generic.List[double]]::new()
    $manual = [Collections.Generic.List[double]]::new()
    function Invoke-ComposeRollback {
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-Rollback -Strategy DockerCompose -Path $work -ProjectName $project -PreviousFile docker-compose.previous.yml -StateDirectory $state -Confirm:$false
        $elapsed = $watch.Elapsed.TotalMilliseconds
        if ($result.Outcome -ne 'Succeeded') { throw "Compose rollback $($result.Outcome): $($result.Message)" }
        $elapsed
    }
    # A runbook job: a fresh pwsh that imports the module and runs the rollback once (its CLI detection and first-call
    # compilation included); the rollback is timed inside it.
    $modulePath = (Get-Module DeploymentRollback).Path -replace "'", "''"
    $freshScript = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$modulePath'
`$watch = [Diagnostics.Stopwatch]::StartNew()
`$result = Invoke-Rollback -Strategy DockerCompose -Path '$($work -replace "'", "''")' -ProjectName $project -PreviousFile docker-compose.previous.yml -StateDirectory '$($state -replace "'", "''")' -Confirm:`$false
`$ms = `$watch.Elapsed.TotalMilliseconds
if (`$result.Outcome -ne 'Succeeded') { throw "Compose rollback `$(`$result.Outcome): `$(`$result.Message)" }
[Console]::Out.WriteLine((ConvertTo-Json -Compress @{ ms = `$ms }))
"@
    $fresh = [Collections.Generic.List[double]]::new()
    # A warm-up round (not counted) keeps the two files' checked configurations, as an earlier rollback with the same files does
    # (a rerun); the second row has them deleted before each of its rounds.
    Deploy-Bad
    $null = Invoke-ComposeRollback
    for ($i = 1; $i -le $Runs; $i++) {
        Deploy-Bad
        $ours.Add((Invoke-ComposeRollback))

        Deploy-Bad
        Remove-Item (Join-Path $state 'cache/compose-config-*')
        $first.Add((Invoke-ComposeRollback))

        Deploy-Bad
        $fresh.Add([double](Invoke-ChildPwsh -Script $freshScript).ms)

        Deploy-Bad
        $watch = [Diagnostics.Stopwatch]::StartNew()
        Push-Location $work
        try { & $compose -p $project -f docker-compose.previous.yml up -d 2>&1 | Out-Null } finally { Pop-Location }
        $web = Invoke-Docker ps -q --filter "label=com.docker.compose.project=$project" --filter 'label=com.docker.compose.service=web'
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ((Invoke-Docker inspect -f '{{.State.Health.Status}}' $web) -ne 'healthy') {
            if ([DateTime]::UtcNow -gt $deadline) { throw 'The hand-made rollback did not get healthy within 60 s.' }
            Start-Sleep -Milliseconds 250
        }
        $manual.Add($watch.Elapsed.TotalMilliseconds)
    }
    $composeOurs = Get-Median $ours
    $composeManual = Get-Median $manual
    $composeRatio = $composeOurs / $composeManual
    $composeFirst = Get-Median $first
    $firstRatio = $composeFirst / $composeManual
    $composeFresh = Get-Median $fresh
    $freshRatio = $composeFresh / $composeManual

    # 2. A single container: recreate and verify.
    $port = Get-FreePort
    $totals = [Collections.Generic.List[double]]::new()
    $waits = [Collections.Generic.List[double]]::new()
    for ($i = 1; $i -le $Runs; $i++) {
        & $docker rm -f $container 2>&1 | Out-Null
        Invoke-Docker run -d --init --network host --name $container -e "APP_PORT=$port" drtest/app:2.3.1 | Out-Null
        $result = Invoke-Rollback -Strategy Container -Name $container -Target drtest/app:2.3.0 -HealthCheckUri "http://127.0.0.1:$port/health" -StateDirectory $state -Confirm:$false
        if ($result.Outcome -ne 'Succeeded') { throw "Container rollback $($result.Outcome): $($result.Message)" }
        $totals.Add($result.Duration.TotalMilliseconds)
        $waits.Add(($result.Steps | Where-Object Name -Like 'WaitHealthy*').Duration.TotalMilliseconds)
    }
    $containerTotal = Get-Median $totals
    $containerWait = Get-Median $waits

    @(
        ''
        '## Containers'
        ''
        "Real Docker engine $((Invoke-Docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')), Compose $((& $compose version --short 2>$null)), test images made offline from busybox (health check every 1 s); medians of $Runs alternating rounds (Compose: after one uncounted round)."
        ''
        '| Measurement | DeploymentRollback | By hand | Ratio ours/by hand | Goal | Met |'
        '|---|---:|---:|---:|---|---|'
        "| Compose rollback of a 2-service project to ``docker-compose.previous.yml``, until healthy, its files checked before (a rerun) | $(Format-S $composeOurs) s | $(Format-S $composeManual) s | **$($composeRatio.ToString('0.00', $invariant))** | <= $($composeGoal.ToString('0.00', $invariant)) | $(if ($composeRatio -le $composeGoal) { 'yes' } else { '**no**' }) |"
        "| The same, the first rollback to that file (its checked configuration not kept yet) | $(Format-S $composeFirst) s | $(Format-S $composeManual) s | $($firstRatio.ToString('0.00', $invariant)) | <= $($composeGoal.ToString('0.00', $invariant)) | $(if ($firstRatio -le $composeGoal) { 'yes' } else { 'no' }) |"
        "| The same rerun in a fresh ``pwsh`` (a runbook job: ``Invoke-Rollback`` timed inside it after ``Import-Module``; detecting the Compose CLI and the first call's compilation included) | $(Format-S $composeFresh) s | $(Format-S $composeManual) s | $($freshRatio.ToString('0.00', $invariant)) | <= $($composeGoal.ToString('0.00', $invariant)) | $(if ($freshRatio -le $composeGoal) { 'yes' } else { 'no' }) |"
        "| Container recreate-and-verify (stop and keep, create, start, wait healthy, HTTP check, remove the failed one) | $(Format-S $containerTotal) s | - | - | | |"
        "| of which waiting for the container's health check | $(Format-S $containerWait) s ($((($containerWait / $containerTotal)).ToString('P0', $invariant))) | - | - | | |"
        ''
        "By hand is ``docker-compose -p <project> -f docker-compose.previous.yml up -d`` and then ``docker inspect`` every 250 ms until the service is healthy. Ours also validates the target before it changes anything (``docker-compose config`` of the previous file, whose services and images it checks through the engine API), checkpoints the failed state (inspect documents and logs through the engine API, and the project's resolved configuration from a second ``docker-compose config``), journals the attempt and writes its signals. A ``docker-compose`` start costs about half a second here, on a machine with 2 processors; ours starts Compose v1 once per rollback, as one Python process that runs every Compose command (``compose_helper.py``). Compose's answer to ``config`` is kept in the state folder for files that read nothing outside themselves (no interpolation, no ``extends``, ``env_file`` or ``build``), keyed by their bytes, the Compose version, the project and the ``COMPOSE_`` variables: the first row is a rollback whose files were all checked before (a rerun: the bench's project file does not change between rounds), which starts no Compose before ``up``; the second is the first one ever, which runs both ``config``s (in that process) before ``up``. A rollback to a file checked before from a project file not seen yet (the next incident) runs the project's ``config`` alone, for the checkpoint. The third row is the rerun as a runbook job runs it, in a fresh ``pwsh``: it also detects the CLI (``docker compose version``; a ``docker-compose`` that is a Python script is v1, and its helper says which version), starts the helper as the session opens, and compiles what the first call needs."
    )
}
finally {
    & $docker rm -f $container 2>&1 | Out-Null
    $ids = & $docker ps -aq --filter "label=com.docker.compose.project=$project" 2>$null
    if ($ids) { & $docker rm -f @ids 2>&1 | Out-Null }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
    if ($engine.Started) { & (Join-Path $PSScriptRoot '../tests/Fixtures/Initialize-Docker.ps1') -Stop | Out-Null }
}
