BeforeDiscovery {
    # Mounts (a read-only folder) need root on Linux; CI runs them regardless.
    $mountSkip = $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1' -and -not ($IsLinux -and (id -u) -eq '0')
    # Debian's prometheus; without it the Prometheus tests skip, except in CI.
    $skipPrometheus = -not (Get-Command prometheus -CommandType Application -ErrorAction SilentlyContinue) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force

    # A real HTTP endpoint whose health follows the deployed code: it reads app.txt of the repository on every request.
    # "good" answers 200, "bad" 500, and "flaky" fails every third request (the 3rd, 6th, ...).
    function Start-AppServer([string] $repo) {
        $server = Start-TestListener -State @{ Repo = $repo; Checks = 0 } -Handler {
            param($context, $state)
            $release = (Get-Content (Join-Path $state.Repo 'app.txt') -Raw).Trim()
            if ($context.Request.Url.AbsolutePath -eq '/health') { $state.Checks++ }
            $context.Response.StatusCode = switch ($release) { 'good' { 200 } 'flaky' { if ($state.Checks % 3 -eq 0) { 500 } else { 200 } } default { 500 } }
            $context.Response.Close()
        }
        [pscustomobject]@{ Uri = "$($server.Url)/health"; Job = $server.Job }
    }

    # A repository at v2.3.1 (bad) whose v2.3.0 (good) is recorded verified-good, and an endpoint serving it.
    function New-WatchedApp([string] $name) {
        $repo = New-TestRepository (Join-Path $TestDrive $name)
        $state = Join-Path $TestDrive "$name-state"
        $server = Start-AppServer $repo
        Invoke-TestGit $repo checkout --quiet v2.3.0 | Out-Null
        Test-RollbackHealth -Strategy Git -Path $repo -Uri $server.Uri -RecordVerified -StateDirectory $state | Out-Null
        Invoke-TestGit $repo checkout --quiet main | Out-Null
        [pscustomobject]@{ Repo = $repo; State = $state; Server = $server; Uri = $server.Uri; Key = "git:$repo" }
    }

    function Get-Signals($app) { @(Get-RollbackSignal -StateDirectory $app.State | Sort-Object Time) }
}

AfterAll {
    Get-Job | Where-Object State -eq Running | Stop-Job
    Get-Job | Remove-Job -Force
}

Describe 'Watch-RollbackTarget rolls back a failing target once' {
    It 'rolls back after -FailureLimit failed rounds in a row, as the watcher, and keeps watching the rolled-back version' {
        $app = New-WatchedApp 'failing'
        $output = @(Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.5 -FailureLimit 3 -DurationSec 5 `
            -StateDirectory $app.State -Confirm:$false -WarningAction SilentlyContinue)
        $result = @($output | Where-Object { $_ -is [DeploymentRollback.RollbackResult] })
        $report = $output[-1]
        $result.Count | Should -Be 1
        $result[0].Outcome | Should -Be Succeeded
        $result[0].Initiator | Should -Be 'watcher'
        $result[0].ToVersion | Should -Be 'v2.3.0'
        (Get-Content (Join-Path $app.Repo 'app.txt')) | Should -Be 'good'
        $report | Should -BeOfType DeploymentRollback.WatchReport
        $report.Rollbacks.Count | Should -Be 1
        $report.EndReason | Should -Be 'DurationElapsed'
        # After the rollback it went on measuring the good version: passing rounds came after the three failures.
        $report.FailedRounds | Should -Be 3
        $report.PassedRounds | Should -BeGreaterThan 0
        ($report.Decisions | Where-Object Action -eq 'RolledBack').Version | Should -Be 'v2.3.1'

        # The spec's input signals first, with the measurements, then the rollback's own.
        $names = (Get-Signals $app).Name
        $names[0..1] | Should -Be @('HEALTH_CHECK_FAILED', 'DEPLOYMENT_FAILED')
        $names | Should -Contain 'ROLLBACK_COMPLETE'
        $failed = (Get-Signals $app)[0]
        $failed.Data.by | Should -Be 'watcher'
        $failed.Data.version | Should -Be 'v2.3.1'
        @($failed.Data.measurements)[0].outcome | Should -Be 'Failed'
        # Detection to ROLLBACK_STARTED: within interval x failure limit + 1 s of the first failed measurement.
        $firstFailure = (Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -StateDirectory $app.State | Where-Object Outcome -eq Failed | Sort-Object At)[0].At
        $started = ((Get-Signals $app) | Where-Object Name -eq 'ROLLBACK_STARTED').Time
        ($started - $firstFailure).TotalSeconds | Should -BeLessThan (0.5 * 3 + 1)
        (Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State)[0].Initiator | Should -Be 'watcher'
        Stop-TestHttpServer $app.Server
    }

    It 'never triggers on an endpoint that fails one check in three with a failure limit of 3' {
        $app = New-WatchedApp 'flaky'
        Set-Content (Join-Path $app.Repo 'app.txt') 'flaky'
        Invoke-TestGit $app.Repo commit --quiet -am 'flaky' | Out-Null
        $report = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 3 -DurationSec 3 -StateDirectory $app.State -Confirm:$false
        $report.Rounds | Should -BeGreaterOrEqual 9
        $report.FailedRounds | Should -BeGreaterOrEqual 3
        $report.Rollbacks.Count | Should -Be 0
        @(Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State).Count | Should -Be 0
        @(Get-Signals $app).Count | Should -Be 0
        Stop-TestHttpServer $app.Server
    }

    It 'triggers on M failures among the last N rounds although passing rounds come between them' {
        $app = New-WatchedApp 'window'
        Set-Content (Join-Path $app.Repo 'app.txt') 'flaky'
        Invoke-TestGit $app.Repo commit --quiet -am 'flaky' | Out-Null
        $report = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 10 -Window 6 -FailuresInWindow 2 `
            -DurationSec 4 -StateDirectory $app.State -Confirm:$false
        $report = @($report)[-1]
        $report.Rollbacks.Count | Should -Be 1
        $report.Decisions[0].Reason | Should -Match '2 failed rounds among the last'
        (Get-Content (Join-Path $app.Repo 'app.txt')) | Should -Be 'good'
        Stop-TestHttpServer $app.Server
    }

    It 'counts a Prometheus outage as probe errors, never rolls back, and pauses for a person after the error limit' {
        $app = New-WatchedApp 'outage'
        $closed = "http://127.0.0.1:$(Get-FreePort)"
        $report = Watch-RollbackTarget -Strategy Git -Path $app.Repo -PrometheusUri $closed -PrometheusQuery 'sum(rate(errors_total[1m])) < 1' `
            -IntervalSec 0.2 -FailureLimit 1 -ConsecutiveErrorLimit 3 -DurationSec 2 -StateDirectory $app.State -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $report.ErrorRounds | Should -BeGreaterOrEqual 3
        $report.FailedRounds | Should -Be 0
        $report.Rollbacks.Count | Should -Be 0
        $report.Paused | Should -BeTrue
        $report.Decisions[0].Action | Should -Be 'Paused'
        $report.Decisions[0].Reason | Should -Match 'cannot be reached'
        (Get-Content (Join-Path $app.Repo 'app.txt')) | Should -Be 'bad'
        (Get-Signals $app).Name | Should -Be @('MANUAL_INTERVENTION_REQUIRED')
        "$warnings" | Should -Match 'paused'
        Stop-TestHttpServer $app.Server
    }

    It 'does not roll back a quarantined version twice when it is deployed again, and waits out the cooldown' {
        $app = New-WatchedApp 'quarantine'
        $first = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 2 -Once -CooldownSec 0 -StateDirectory $app.State -Confirm:$false
        $first = @($first)[-1]
        $first.Rollbacks.Count | Should -Be 1
        $first.EndReason | Should -Be 'Once'

        # The same bad version deployed again: no second automatic rollback, a person is asked instead.
        Invoke-TestGit $app.Repo checkout --quiet v2.3.1 | Out-Null
        $again = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 2 -Once -CooldownSec 0 -StateDirectory $app.State -Confirm:$false -WarningAction SilentlyContinue
        $again.Rollbacks.Count | Should -Be 0
        $again.Decisions[-1].Action | Should -Be 'Quarantined'
        $again.Paused | Should -BeTrue
        (Get-Content (Join-Path $app.Repo 'app.txt')) | Should -Be 'bad'
        (Get-Signals $app)[-1].Name | Should -Be 'MANUAL_INTERVENTION_REQUIRED'

        # A new bad version within the cooldown: recorded, not acted on.
        Set-Content (Join-Path $app.Repo 'app.txt') 'bad again'
        Invoke-TestGit $app.Repo commit --quiet -am 'v2.3.2' | Out-Null
        $cooling = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 2 -Once -CooldownSec 600 -StateDirectory $app.State -Confirm:$false
        $cooling.Rollbacks.Count | Should -Be 0
        $cooling.Decisions[-1].Action | Should -Be 'CoolingDown'
        @(Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State).Count | Should -Be 1
        # A person's rollback after the watcher's: the metrics tell them apart.
        Invoke-Rollback -Strategy Git -Path $app.Repo -Target v2.3.0 -StateDirectory $app.State -Confirm:$false | Out-Null
        $metrics = Get-RollbackMetrics -GroupBy All -StateDirectory $app.State
        ($metrics.AutomaticRollbacks, $metrics.ManualRollbacks) | Should -Be @(1, 1)
        (Get-RollbackMetrics -GroupBy All -Format Prometheus -StateDirectory $app.State) -join "`n" | Should -Match 'rollbacks_by_initiator\{initiator="automatic"\} 1'
        (Get-RollbackHistory -TargetKey $app.Key -Watch -StateDirectory $app.State).Action | Should -Be @('CoolingDown', 'Quarantined', 'RolledBack')
        Stop-TestHttpServer $app.Server
    }

    It '-DryRun measures and records but changes nothing and signals nothing; -WhatIf records nothing either' {
        $app = New-WatchedApp 'dryrun'
        $head = Get-TestHead $app.Repo
        $report = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 2 -Once -DryRun -StateDirectory $app.State
        $report.DryRun | Should -BeTrue
        $report.Decisions.Action | Should -Be @('WouldRollBack')
        Get-TestHead $app.Repo | Should -Be $head
        @(Get-Signals $app).Count | Should -Be 0
        @(Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State).Count | Should -Be 0
        @(Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -StateDirectory $app.State).Count | Should -Be 2

        $whatIf = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 2 -Once -StateDirectory $app.State -WhatIf
        $whatIf.Decisions.Action | Should -Be @('WouldRollBack')
        Get-TestHead $app.Repo | Should -Be $head
        @(Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -StateDirectory $app.State).Count | Should -Be 2
        @(Get-RollbackHistory -TargetKey $app.Key -Watch -StateDirectory $app.State).Count | Should -Be 1
        Stop-TestHttpServer $app.Server
    }

    It 'watches a plan with the service''s checks and rolls its failing component back as the plan' {
        $repo = New-TestRepository (Join-Path $TestDrive 'plan-app')
        $state = Join-Path $TestDrive 'plan-state'
        $server = Start-AppServer $repo
        Invoke-TestGit $repo checkout --quiet v2.3.0 | Out-Null
        $plan = @{ Service = 'watched'; Components = @(@{ Name = 'web'; Strategy = 'Git'; Path = $repo }); HealthCheckUri = $server.Uri }
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state
        Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
        $report = @(Watch-RollbackTarget -Plan $plan -IntervalSec 0.2 -FailureLimit 2 -Once -StateDirectory $state -Confirm:$false)[-1]
        $report.TargetKey | Should -Be 'plan:watched'
        $report.Rollbacks.Count | Should -Be 1
        $report.Rollbacks[0].Strategy | Should -Be 'Plan'
        $report.Rollbacks[0].Initiator | Should -Be 'watcher'
        ($report.Rollbacks[0].Components | Where-Object Name -eq web).Action | Should -Be 'RolledBack'
        $report.Decisions[0].Version | Should -Be 'web v2.3.1'
        (Get-Content (Join-Path $repo 'app.txt')) | Should -Be 'good'
        { Watch-RollbackTarget -Plan $plan -Strategy Git -StateDirectory $state -ErrorAction Stop } | Should -Throw -ErrorId 'PlanParameterConflict,DeploymentRollback.Commands.WatchRollbackTargetCommand'
        Stop-TestHttpServer $server
    }

    It 'refuses bad parameters with an error id before measuring anything' {
        $app = New-WatchedApp 'bad-input'
        { Watch-RollbackTarget -Strategy Git -Path $app.Repo -PrometheusUri http://127.0.0.1:9 -PrometheusQuery 'up' -StateDirectory $app.State -ErrorAction Stop } |
            Should -Throw -ErrorId 'WatchQueryInvalid,DeploymentRollback.Commands.WatchRollbackTargetCommand'
        { Watch-RollbackTarget -Strategy Git -Path $app.Repo -PrometheusQuery 'up < 1' -StateDirectory $app.State -ErrorAction Stop } |
            Should -Throw -ErrorId 'WatchPrometheusUriInvalid,DeploymentRollback.Commands.WatchRollbackTargetCommand'
        { Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -Window 5 -StateDirectory $app.State -ErrorAction Stop } |
            Should -Throw -ErrorId 'WatchWindowInvalid,DeploymentRollback.Commands.WatchRollbackTargetCommand'
        { Watch-RollbackTarget -Strategy Git -Path $app.Repo -StateDirectory $app.State -ErrorAction Stop } |
            Should -Throw -ErrorId 'WatchNothingToMeasure,DeploymentRollback.Commands.WatchRollbackTargetCommand'
        @(Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -StateDirectory $app.State).Count | Should -Be 0
        Stop-TestHttpServer $app.Server
    }
}

Describe 'A watcher whose state cannot be written' -Skip:$mountSkip {
    It 'goes on measuring with a warning, and does not act while nothing can be recorded' {
        $app = New-WatchedApp 'readonly'
        $head = Get-TestHead $app.Repo
        $null = Get-RollbackHistory -StateDirectory $app.State
        mount --bind $app.State $app.State
        try {
            mount -o 'remount,ro,bind' $app.State
            $report = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $app.Uri -IntervalSec 0.2 -FailureLimit 2 -Once `
                -StateDirectory $app.State -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        }
        finally { umount -l $app.State }
        $report.Rounds | Should -Be 2
        $report.Rollbacks.Count | Should -Be 0
        $report.Paused | Should -BeTrue
        $report.Decisions[-1].Action | Should -Be 'RollbackRefused'
        $report.Decisions[-1].Reason | Should -Match 'StateReadOnly'
        Get-TestHead $app.Repo | Should -Be $head
        "$warnings" | Should -Match 'cannot record to the state'
        Stop-TestHttpServer $app.Server
    }
}

Describe 'Watchers in their own processes' {
    It 'two watchers of one target never both act' {
        $app = New-WatchedApp 'two'
        $script = @"
Import-Module '$(Get-TestModulePath)'
`$r = Watch-RollbackTarget -Strategy Git -Path '$($app.Repo)' -HealthCheckUri '$($app.Uri)' -IntervalSec 0.2 -FailureLimit 2 -Once -StateDirectory '$($app.State)' -Confirm:`$false -WarningAction SilentlyContinue
`$r = @(`$r)[-1]
'ROLLBACKS=' + `$r.Rollbacks.Count
'DECISION=' + `$r.Decisions[-1].Action
"@
        $children = 1..2 | ForEach-Object { Start-ChildPwsh -Script $script }
        $results = $children | Wait-ChildPwsh
        $results.ExitCode | Should -Be @(0, 0)
        ($results.Output -join "`n") | Should -Match 'ROLLBACKS=1'
        (@($results.Output | Select-String 'ROLLBACKS=1' -AllMatches).Matches).Count | Should -Be 1
        @(Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State).Count | Should -Be 1
        (Get-Content (Join-Path $app.Repo 'app.txt')) | Should -Be 'good'
        Stop-TestHttpServer $app.Server
    }

    It 'killed during its rollback, is finished by the next watcher run (no cooldown, no quarantine from the dead act)' {
        # The application serves live/app.txt, which the restart script deploys from the checkout.
        $app = New-WatchedApp 'killed'
        $live = Join-Path $TestDrive 'killed-live'
        New-Item -ItemType Directory -Force $live | Out-Null
        Set-Content (Join-Path $live 'app.txt') 'bad'
        $server = Start-AppServer $live
        $marker = Join-Path $TestDrive 'killed-restarting'
        $restart = "{ Set-Content '$marker' 1; Start-Sleep -Seconds 60; Copy-Item '$($app.Repo)/app.txt' '$live/app.txt' }"
        $child = Start-ChildPwsh -Script @"
Import-Module '$(Get-TestModulePath)'
Watch-RollbackTarget -Strategy Git -Path '$($app.Repo)' -HealthCheckUri '$($server.Uri)' -IntervalSec 0.2 -FailureLimit 2 -Once -RestartScript $restart -StateDirectory '$($app.State)' -Confirm:`$false
"@
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline -and -not (Test-Path $marker)) { Start-Sleep -Milliseconds 100 }
        Test-Path $marker | Should -BeTrue
        $child.Process.Kill($true)
        $null = $child | Wait-ChildPwsh

        $report = Watch-RollbackTarget -Strategy Git -Path $app.Repo -HealthCheckUri $server.Uri -IntervalSec 0.2 -FailureLimit 2 -Once `
            -RestartScript ([scriptblock]::Create("Copy-Item '$($app.Repo)/app.txt' '$live/app.txt'")) -StateDirectory $app.State -Confirm:$false -WarningAction SilentlyContinue
        $report = @($report)[-1]
        $report.Decisions.Action | Should -Be @('RolledBack')
        $report.Rollbacks[0].Outcome | Should -BeIn @('Succeeded', 'Skipped')
        $report.Rollbacks[0].Verification | Should -Be 'Passed'
        (Get-Content (Join-Path $live 'app.txt')) | Should -Be 'good'
        (Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State).Outcome | Should -Be @($report.Rollbacks[0].Outcome, 'Interrupted')
        Stop-TestHttpServer $server
        Stop-TestHttpServer $app.Server
    }

    It 'stops cleanly on SIGTERM with its report' -Skip:$IsWindows {
        $app = New-WatchedApp 'sigterm'
        Invoke-TestGit $app.Repo checkout --quiet v2.3.0 | Out-Null
        $child = Start-ChildPwsh -Script @"
Import-Module '$(Get-TestModulePath)'
`$r = Watch-RollbackTarget -Strategy Git -Path '$($app.Repo)' -HealthCheckUri '$($app.Uri)' -IntervalSec 0.2 -DurationSec 120 -StateDirectory '$($app.State)'
'END=' + `$r.EndReason + ' ROUNDS=' + `$r.Rounds
"@
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline -and @(Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -StateDirectory $app.State).Count -lt 3) { Start-Sleep -Milliseconds 200 }
        kill -TERM $child.Process.Id
        $result = $child | Wait-ChildPwsh
        $result.ExitCode | Should -Be 0
        $result.Output | Should -Match 'END=Stopped ROUNDS=\d+'
        Stop-TestHttpServer $app.Server
    }
}

Describe 'Watching a real Prometheus' -Skip:$skipPrometheus {
    BeforeAll {
        # The test application's release is app.txt of a real repository: what Git checks out is what it serves.
        $repo = New-TestRepository (Join-Path $TestDrive 'prom-app')
        $state = Join-Path $TestDrive 'prom-state'
        Invoke-TestGit $repo checkout --quiet v2.3.0 | Out-Null
        $prometheus = & (Join-Path $PSScriptRoot '../Fixtures/Start-Prometheus.ps1') -Name "watch-$PID" -ReleaseFile (Join-Path $repo 'app.txt')
        if (-not $prometheus.Available) { throw $prometheus.Reason }
        Test-RollbackHealth -Strategy Git -Path $repo -Uri "$($prometheus.AppUrl)/health" -RecordVerified -StateDirectory $state | Out-Null
        $key = "git:$repo"
    }

    AfterAll { & (Join-Path $PSScriptRoot '../Fixtures/Start-Prometheus.ps1') -Name "watch-$PID" -Stop | Out-Null }

    It 'rolls back when the error ratio in PromQL fails its condition, and the error ratio recovers' {
        Invoke-TestGit $repo checkout --quiet main | Out-Null
        $query = @{ Name = 'error ratio'; Query = "$($prometheus.ErrorRatioQuery) < 0.05" }
        $output = @(Watch-RollbackTarget -Strategy Git -Path $repo -PrometheusUri $prometheus.PrometheusUrl -PrometheusQuery $query `
            -IntervalSec 1 -FailureLimit 3 -InitialDelaySec 6 -DurationSec 22 -StateDirectory $state -Confirm:$false)
        $report = $output[-1]
        $report.Rollbacks.Count | Should -Be 1
        $report.Rollbacks[0].Outcome | Should -Be Succeeded
        $report.Rollbacks[0].Initiator | Should -Be 'watcher'
        (Get-Content (Join-Path $repo 'app.txt')) | Should -Be 'good'
        $report.Decisions.Action | Should -Be @('RolledBack')
        # The rolled-back version is watched too, and its error ratio passes.
        $after = @($report.Measurements | Where-Object At -gt $report.Rollbacks[0].CompletedAt)
        $after.Count | Should -BeGreaterThan 3
        $after[-1].Outcome | Should -Be Passed
        $after[-1].Value | Should -BeLessThan 0.05
        $failed = @(Get-RollbackHistory -TargetKey $key -Watch -Measurement -StateDirectory $state | Where-Object Outcome -eq Failed | Sort-Object At)
        $failed[0].Name | Should -Be 'error ratio'
        $failed[0].Value | Should -BeGreaterThan 0.05
        $started = (Get-RollbackSignal -StateDirectory $state -Name ROLLBACK_STARTED).Time
        ($started - $failed[0].At).TotalSeconds | Should -BeLessThan (1 * 3 + 1)
        $signal = Get-RollbackSignal -StateDirectory $state -Name HEALTH_CHECK_FAILED
        @($signal.Data.measurements)[0].probe | Should -Be 'prometheus'
        @($signal.Data.measurements)[0].condition | Should -Be '< 0.05'
        # The watcher's passing measurements after the rollback are the checklist's evidence of no error spike.
        $item = Get-RollbackChecklist -AttemptId $report.Rollbacks[0].AttemptId -StateDirectory $state | Where-Object Item -eq 'No error spikes in logs'
        $item.Done | Should -BeTrue
        $item.Evidence | Should -Match 'error ratio'
    }

    It 'pauses for a person on a query with no data when no data is inconclusive' {
        $report = Watch-RollbackTarget -Strategy Git -Path $repo -PrometheusUri $prometheus.PrometheusUrl -PrometheusQuery 'sum(rate(no_such_metric_total[5s])) < 1' `
            -NoData Inconclusive -IntervalSec 0.5 -FailureLimit 2 -Once -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
        $report.Paused | Should -BeTrue
        $report.NoDataRounds | Should -Be 1
        $report.Decisions[-1].Reason | Should -Match 'inconclusive'
        $report.Rollbacks.Count | Should -Be 0
    }
}
