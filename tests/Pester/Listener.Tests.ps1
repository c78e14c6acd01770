BeforeDiscovery {
    # Mounts (a read-only folder) need root on Linux; CI runs them regardless.
    $mountSkip = $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1' -and -not ($IsLinux -and (id -u) -eq '0')
    # Debian's prometheus and prometheus-alertmanager; without them the end-to-end test skips, except in CI.
    $skipPrometheus = -not (Get-Command prometheus-alertmanager -CommandType Application -ErrorAction SilentlyContinue) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $samples = Join-Path $PSScriptRoot '../Fixtures/alerts'

    # Every listener started, so that one a failed test left running is stopped in AfterAll.
    $script:listeners = [Collections.Generic.List[object]]::new()

    # A listener in its own pwsh process (as a service runs it); its report comes back as JSON on stdout. One that ends at
    # start with ListenerStartFailed because this test's polling connected while it started (.NET's HttpListener does not
    # survive that, see SignalListener.Listen) is started again, as a service manager does; up to three times.
    function Start-Listener([string] $arguments, [int] $port) {
        for ($start = 1; $start -le 3; $start++) {
            $child = Start-ChildPwsh -Script @"
Import-Module '$(Get-TestModulePath)'
`$ProgressPreference = 'SilentlyContinue'
`$out = @(Start-RollbackSignalListener -Prefix 'http://127.0.0.1:$port/alerts/' $arguments -Confirm:`$false)
'REPORT=' + (`$out[-1] | ConvertTo-Json -Depth 6 -Compress)
"@
            $script:listeners.Add($child)
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline) {
                try { $null = Invoke-RestMethod "http://127.0.0.1:$port/alerts/" -TimeoutSec 1; break } catch { if ($child.Process.HasExited) { break }; Start-Sleep -Milliseconds 100 }
            }
            if (-not $child.Process.HasExited) { return $child }
            $result = $child | Wait-ChildPwsh
            if ($result.Error -notlike '*connected to*while the listener was starting*') {
                throw "The listener on port $port ended at start (exit code $($result.ExitCode)): $($result.Output) $($result.Error)"
            }
            Write-Host "The listener on port $port was connected to while it started (start $start); starting it again."
        }
        throw "The listener on port $port ended at start three times: $($result.Error)"
    }

    function Stop-Listener($child) {
        if (-not $child.Process.HasExited) { kill -TERM $child.Process.Id }
        $result = $child | Wait-ChildPwsh
        $line = ($result.Output -split "`n" | Where-Object { $_ -like 'REPORT=*' } | Select-Object -Last 1)
        if (-not $line) { throw "The listener ended without a report: $($result.Output) $($result.Error)" }
        $line.Substring(7) | ConvertFrom-Json
    }

    function Send-Alert([int] $port, [string] $body, [hashtable] $headers = @{}) {
        $response = Invoke-WebRequest "http://127.0.0.1:$port/alerts/" -Method Post -Body $body -ContentType 'application/json' -Headers $headers -SkipHttpErrorCheck -TimeoutSec 10
        [pscustomobject]@{ Status = [int]$response.StatusCode; Body = $(if ($response.Content) { $response.Content | ConvertFrom-Json }) }
    }
}

AfterAll {
    foreach ($child in $script:listeners) {
        if (-not $child.Process.HasExited) { $child.Process.Kill($true) }
        Remove-Item $child.File -ErrorAction SilentlyContinue
    }
}

Describe 'Start-RollbackSignalListener' {
    It 'refuses to start without a bearer token or HMAC secret, or with a bad prefix' {
        { Start-RollbackSignalListener -Prefix http://127.0.0.1:9/alerts/ -StateDirectory $TestDrive -ErrorAction Stop } |
            Should -Throw -ErrorId 'ListenerAuthenticationRequired,DeploymentRollback.Commands.StartRollbackSignalListenerCommand'
        $token = ConvertTo-SecureString 'x' -AsPlainText -Force
        { Start-RollbackSignalListener -Prefix http://127.0.0.1:9/alerts -BearerToken $token -StateDirectory $TestDrive -ErrorAction Stop } |
            Should -Throw -ErrorId 'ListenerPrefixInvalid,DeploymentRollback.Commands.StartRollbackSignalListenerCommand'
    }

    It 'answers every bad request with its status and reason, records each alert once per state, and keeps listening' {
        $port = Get-FreePort
        $state = Join-Path $TestDrive 'records'
        $listener = Start-Listener "-BearerToken (ConvertTo-SecureString 's3cret-token' -AsPlainText -Force) -TargetKey plan:checkout -StateDirectory '$state' -MaxBodyBytes 65536" $port
        $auth = @{ Authorization = 'Bearer s3cret-token' }
        $firing = Get-Content -Raw (Join-Path $samples 'alertmanager-firing.json')
        $resolved = Get-Content -Raw (Join-Path $samples 'alertmanager-resolved.json')

        (Send-Alert $port $firing).Status | Should -Be 401
        $wrong = Send-Alert $port $firing @{ Authorization = 'Bearer wrong' }
        ($wrong.Status, $wrong.Body.error) | Should -Be @(401, 'AlertTokenInvalid')
        $bad = Send-Alert $port '{ not json' $auth
        ($bad.Status, $bad.Body.error) | Should -Be @(400, 'AlertPayloadInvalid')
        (Send-Alert $port '{"hello":"world"}' $auth).Body.error | Should -Be 'AlertFormatUnknown'
        $large = Send-Alert $port ('{"a":"' + ('x' * 70000) + '"}') $auth
        ($large.Status, $large.Body.error) | Should -Be @(413, 'AlertPayloadTooLarge')
        (Invoke-WebRequest "http://127.0.0.1:$port/alerts/" -Method Put -Headers $auth -SkipHttpErrorCheck).StatusCode | Should -Be 405

        $first = Send-Alert $port $firing $auth
        $first.Status | Should -Be 202
        $first.Body.firing | Should -BeGreaterThan 0
        $first.Body.duplicates | Should -Be 0
        $repeat = Send-Alert $port $firing $auth
        $repeat.Body.duplicates | Should -Be $first.Body.alerts
        (Send-Alert $port $resolved $auth).Body.resolved | Should -BeGreaterThan 0

        $report = Stop-Listener $listener
        $report.EndReason | Should -Be 'Stopped'
        ($report.Requests, $report.Unauthorized, $report.Invalid, $report.Accepted) | Should -Be @(10, 2, 4, 3)
        $signals = @(Get-RollbackSignal -StateDirectory $state)
        $signals.Subject | Sort-Object -Unique | Should -Be 'plan:checkout'
        @($signals | Where-Object { $_.Data.status -eq 'firing' }).Count | Should -Be $first.Body.alerts
        @($signals | Where-Object { $_.Data.status -eq 'resolved' }).Count | Should -BeGreaterThan 0
        # The token is nowhere in the state.
        Get-ChildItem -Recurse -File $state | Select-String 's3cret-token' | Should -BeNullOrEmpty
    }

    It 'accepts only bodies signed with the HMAC secret' {
        $port = Get-FreePort
        $state = Join-Path $TestDrive 'signed'
        $listener = Start-Listener "-HmacSecret (ConvertTo-SecureString 'hmac-key' -AsPlainText -Force) -TargetKey plan:checkout -StateDirectory '$state'" $port
        $body = Get-Content -Raw (Join-Path $samples 'alertmanager-firing.json')
        $hmac = [Security.Cryptography.HMACSHA256]::new([Text.Encoding]::UTF8.GetBytes('hmac-key'))
        $signature = 'sha256=' + [Convert]::ToHexString($hmac.ComputeHash([Text.Encoding]::UTF8.GetBytes($body))).ToLowerInvariant()
        (Send-Alert $port $body).Body.error | Should -Be 'AlertSignatureInvalid'
        (Send-Alert $port $body @{ 'X-Hub-Signature-256' = 'sha256=' + ('0' * 64) }).Status | Should -Be 401
        (Send-Alert $port ($body + ' ') @{ 'X-Hub-Signature-256' = $signature }).Status | Should -Be 401
        (Send-Alert $port $body @{ 'X-Hub-Signature-256' = $signature }).Status | Should -Be 202
        $report = Stop-Listener $listener
        ($report.Unauthorized, $report.Accepted) | Should -Be @(3, 1)
    }
}

Describe 'A listener whose state cannot be written' -Skip:$mountSkip {
    It 'answers 503 so the sender retries, keeps listening, and records the alert once the state is writable again' {
        $port = Get-FreePort
        $state = Join-Path $TestDrive 'readonly-state'
        $listener = Start-Listener "-BearerToken (ConvertTo-SecureString 'ro-token' -AsPlainText -Force) -TargetKey plan:checkout -StateDirectory '$state'" $port
        $auth = @{ Authorization = 'Bearer ro-token' }
        $firing = Get-Content -Raw (Join-Path $samples 'alertmanager-firing.json')
        $null = Get-RollbackHistory -StateDirectory $state
        mount --bind $state $state
        try {
            mount -o 'remount,ro,bind' $state
            $refused = Send-Alert $port $firing $auth
        }
        finally { umount -l $state }
        $refused.Status | Should -Be 503
        $refused.Body.error | Should -Not -BeNullOrEmpty
        (Invoke-RestMethod "http://127.0.0.1:$port/alerts/").status | Should -Be 'listening'
        $retried = Send-Alert $port $firing $auth
        ($retried.Status, $retried.Body.duplicates) | Should -Be @(202, 0)
        @(Get-RollbackSignal -StateDirectory $state | Where-Object { $_.Data.status -eq 'firing' }).Count | Should -Be $retried.Body.alerts
        (Stop-Listener $listener).EndReason | Should -Be 'Stopped'
    }
}

Describe 'A listener killed while it rolls back' {
    It 'finishes the act when the sender repeats the alert to the next listener' {
        $repo = New-TestRepository (Join-Path $TestDrive 'killed')
        $state = Join-Path $TestDrive 'killed-state'
        $live = Join-Path $TestDrive 'killed-live.txt'
        Set-Content $live 'bad'
        $firing = Get-Content -Raw (Join-Path $samples 'alertmanager-firing.json')
        $auth = @{ Authorization = 'Bearer t0ken' }
        $common = "-BearerToken (ConvertTo-SecureString 't0ken' -AsPlainText -Force) -Strategy Git -Path '$repo' -Target v2.3.0 -StateDirectory '$state'"
        $port = Get-FreePort
        $marker = Join-Path $TestDrive 'listener-restarting'
        $first = Start-Listener "$common -RestartScript { Set-Content '$marker' 1; Start-Sleep -Seconds 60 }" $port
        (Send-Alert $port $firing $auth).Body.acting | Should -Be 1
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline -and -not (Test-Path $marker)) { Start-Sleep -Milliseconds 100 }
        Test-Path $marker | Should -BeTrue
        $first.Process.Kill($true)
        $null = $first | Wait-ChildPwsh

        $port = Get-FreePort
        $second = Start-Listener "$common -RestartScript { Copy-Item '$repo/app.txt' '$live' }" $port
        $repeat = Send-Alert $port $firing $auth
        $repeat.Body.duplicates | Should -BeGreaterThan 0
        $repeat.Body.acting | Should -Be 1
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline -and (Get-Content $live) -ne 'good') { Start-Sleep -Milliseconds 200 }
        $report = Stop-Listener $second
        $report.Decisions.Action | Should -Be @('RolledBack')
        (Get-RollbackHistory -TargetKey "git:$repo" -StateDirectory $state).Outcome | Should -Be @($report.Rollbacks[0].Outcome, 'Interrupted')
        (Get-Content $live) | Should -Be 'good'
        # A third repeat is a duplicate only: the act is decided.
        $port = Get-FreePort
        $third = Start-Listener $common $port
        (Send-Alert $port $firing $auth).Body.acting | Should -Be 0
        (Stop-Listener $third).Rollbacks.Count | Should -Be 0
    }
}

Describe 'A real Alertmanager posting to the listener' -Skip:$skipPrometheus {
    BeforeAll {
        # The application serves live.txt, which the restart script deploys from the checkout (after a pause, so that
        # Alertmanager repeats its notification while the rollback runs).
        $repo = New-TestRepository (Join-Path $TestDrive 'e2e')
        $live = Join-Path $TestDrive 'live.txt'
        $state = Join-Path $TestDrive 'e2e-state'
        Invoke-TestGit $repo checkout --quiet v2.3.0 | Out-Null
        Copy-Item (Join-Path $repo 'app.txt') $live
        $port = Get-FreePort
        $prometheus = & (Join-Path $PSScriptRoot '../Fixtures/Start-Prometheus.ps1') -Name "listener-$PID" -ReleaseFile $live `
            -WebhookUrl "http://127.0.0.1:$port/alerts/" -WebhookBearerToken 'am-token'
        if (-not $prometheus.Available) { throw $prometheus.Reason }
        Test-RollbackHealth -Strategy Git -Path $repo -Uri "$($prometheus.AppUrl)/health" -RecordVerified -StateDirectory $state | Out-Null
    }

    AfterAll { & (Join-Path $PSScriptRoot '../Fixtures/Start-Prometheus.ps1') -Name "listener-$PID" -Stop | Out-Null }

    It 'rolls back exactly once although Alertmanager repeats the notification and later sends it resolved' {
        $listener = Start-Listener ("-BearerToken (ConvertTo-SecureString 'am-token' -AsPlainText -Force) -Strategy Git -Path '$repo' -StateDirectory '$state' " +
            "-HealthCheckUri '$($prometheus.AppUrl)/health' -RestartScript { Start-Sleep -Seconds 9; Copy-Item '$repo/app.txt' '$live' }") $port
        Invoke-TestGit $repo checkout --quiet main | Out-Null
        Copy-Item (Join-Path $repo 'app.txt') $live

        # Firing, the rollback, repeats, then resolved once the error ratio is back down: about 25-30 s here, even with
        # both processors busy. The margin is for a loaded CI machine; if it runs out, the failure says where it stopped.
        $waitSec = 150
        $deadline = [DateTime]::UtcNow.AddSeconds($waitSec)
        $resolved = $null
        while ([DateTime]::UtcNow -lt $deadline -and -not $resolved) {
            $resolved = Get-RollbackSignal -StateDirectory $state | Where-Object { $_.Data.status -eq 'resolved' }
            if (-not $resolved) { Start-Sleep -Milliseconds 500 }
        }
        if (-not $resolved) {
            # Everything a person needs to tell where the chain stopped: the listener's own output, what it recorded,
            # and what Prometheus and Alertmanager hold.
            kill -TERM $listener.Process.Id
            if (-not $listener.Process.WaitForExit(15000)) { $listener.Process.Kill($true) }
            $result = $listener | Wait-ChildPwsh
            $seen = Get-RollbackSignal -StateDirectory $state | Sort-Object Time | ForEach-Object { "$($_.Time.ToString('HH:mm:ss.fff')) $($_.Name) $($_.Data | ConvertTo-Json -Compress -Depth 3)" }
            $history = Get-RollbackHistory -TargetKey "git:$repo" -StateDirectory $state | ForEach-Object { "$($_.Outcome) $($_.Reason)" }
            $ratio = try { (Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/query" -Body @{ query = $prometheus.ErrorRatioQuery } -TimeoutSec 5).data.result.value[1] } catch { $_.Exception.Message }
            $rules = try { (Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/alerts" -TimeoutSec 5).data.alerts | ConvertTo-Json -Compress -Depth 4 } catch { $_.Exception.Message }
            $manager = try { Invoke-RestMethod "$($prometheus.AlertmanagerUrl)/api/v2/alerts" -TimeoutSec 5 | ConvertTo-Json -Compress -Depth 4 } catch { $_.Exception.Message }
            # Alertmanager logs each failed webhook delivery (at warn, the fixture's level).
            $managerLog = Get-Content (Join-Path $prometheus.DataPath 'alertmanager.err'), (Join-Path $prometheus.DataPath 'alertmanager.out') -ErrorAction SilentlyContinue | Select-Object -Last 20
            throw ("No resolved alert recorded in $waitSec s. Live release: $(Get-Content $live). Error ratio: $ratio.`n" +
                "Signals:`n$($seen -join "`n")`nHistory: $($history -join '; ')`nPrometheus alerts: $rules`nAlertmanager alerts: $manager`n" +
                "Alertmanager's log:`n$($managerLog -join "`n")`n" +
                "Listener exit $($result.ExitCode), stdout:`n$($result.Output)`nstderr:`n$($result.Error)")
        }
        Start-Sleep -Seconds 4
        $report = Stop-Listener $listener

        $attempts = @(Get-RollbackHistory -TargetKey "git:$repo" -StateDirectory $state)
        $attempts.Count | Should -Be 1
        $attempts[0].Outcome | Should -Be Succeeded
        $attempts[0].Initiator | Should -Be 'listener'
        $attempts[0].Reason | Should -Match 'CheckoutHighErrorRate'
        (Get-Content $live) | Should -Be 'good'
        $report.Rollbacks.Count | Should -Be 1
        $report.Duplicates | Should -BeGreaterThan 0
        $report.Resolved | Should -BeGreaterThan 0
        $report.Unauthorized | Should -Be 0
        $report.Decisions.Action | Should -Be @('RolledBack')
        # One signal per change of the group's state: firing (acted on), resolved (recorded only).
        $alerts = @(Get-RollbackSignal -StateDirectory $state -Name HEALTH_CHECK_FAILED | Sort-Object Time)
        $alerts.Data.status | Should -Be @('firing', 'resolved')
        $alerts.Data.act | Should -Be @($true, $false)
        # Time to recovery runs from the alert's signal.
        $attempts[0].FailureDetectedAt | Should -Be $alerts[0].Time
    }
}
