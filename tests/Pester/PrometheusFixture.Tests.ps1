BeforeDiscovery {
    # Debian's prometheus and prometheus-alertmanager; without them these tests skip, except in CI.
    $installed = (Test-Path /usr/bin/python3) -and -not (@('prometheus', 'prometheus-alertmanager') | Where-Object { -not (Get-Command $_ -CommandType Application -ErrorAction SilentlyContinue) })
    $skipPrometheus = -not $installed -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $fixture = Join-Path $PSScriptRoot '../Fixtures/Start-Prometheus.ps1'

    # The notifications received so far, oldest first, each with its arrival time.
    function Get-Notification {
        foreach ($file in Get-ChildItem $receiver.Folder -Filter *.json | Sort-Object Name) {
            $notification = Get-Content -Raw $file.FullName | ConvertFrom-Json
            $notification | Add-Member NoteProperty ReceivedAt $file.LastWriteTimeUtc -PassThru
        }
    }

    # The error ratio Prometheus computes now (the fixture's PromQL through /api/v1/query); $null when it has no value.
    function Get-ErrorRatio {
        $response = Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/query" -Body @{ query = $prometheus.ErrorRatioQuery } -TimeoutSec 5
        $response.status | Should -Be 'success'
        $result = @($response.data.result)
        if ($result.Count -eq 0) { return $null }
        [double]::Parse($result[0].value[1], [Globalization.CultureInfo]::InvariantCulture)
    }

    # Polls a condition every 200 ms until it returns something truthy; returns that value, or fails after the timeout.
    function Wait-Until([scriptblock] $condition, [int] $seconds, [string] $what) {
        $deadline = [DateTime]::UtcNow.AddSeconds($seconds)
        while ($true) {
            $value = & $condition
            if ($value) { return $value }
            if ([DateTime]::UtcNow -gt $deadline) { throw "no $what within $seconds s" }
            Start-Sleep -Milliseconds 200
        }
    }

    function Write-Timing([string] $step, [double] $seconds) {
        $timings[$step] = [Math]::Round($seconds, 1)
        Write-Host ('  {0}: {1:N1} s' -f $step, $seconds)
    }
}

Describe 'Prometheus and Alertmanager watching an application whose error rate follows its release' -Skip:$skipPrometheus {
    BeforeAll {
        $timings = [ordered]@{}
        $receiver = Start-TestReceiver (Join-Path $TestDrive 'webhook')
        $name = "pester-$PID"
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $prometheus = & $fixture -Name $name -WebhookUrl "$($receiver.Url)/alertmanager"
        if (-not $prometheus.Available) { throw "The Prometheus fixture is not available: $($prometheus.Reason)" }
        Write-Timing 'fixture started (first error ratio in Prometheus)' $clock.Elapsed.TotalSeconds
    }

    AfterAll {
        if ($prometheus.Started) { & $fixture -Name $name -Stop }
        Stop-TestReceiver $receiver
        Write-Host "Timings: $(($timings.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value) s" }) -join '; ')"
    }

    It 'runs the good release: healthy, an error ratio below 5 %, no alert' {
        (Invoke-WebRequest "$($prometheus.AppUrl)/health").StatusCode | Should -Be 200
        (Invoke-RestMethod "$($prometheus.AppUrl)/release").Trim() | Should -Be 'good'
        Get-ErrorRatio | Should -BeLessThan 0.05
        $target = (Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/targets").data.activeTargets | Where-Object { $_.labels.job -eq 'checkout' }
        $target.health | Should -Be 'up'
        $target.labels.service | Should -Be 'checkout'
        $rule = (Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/rules").data.groups.rules | Where-Object name -EQ $prometheus.AlertName
        $rule.health | Should -Be 'ok'
        $rule.state | Should -Be 'inactive'
        @(Get-Notification) | Should -HaveCount 0
    }

    It 'on a bad release: the ratio passes 20 %, the alert fires, and Alertmanager posts it and repeats it' {
        $deployed = [DateTime]::UtcNow
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Set-Content $prometheus.ReleaseFile 'v2.3.1-bad'
        (Invoke-WebRequest "$($prometheus.AppUrl)/health" -SkipHttpErrorCheck).StatusCode | Should -Be 500

        $ratio = Wait-Until { $r = Get-ErrorRatio; if ($r -gt 0.2) { $r } } 20 'error ratio above 0.2'
        Write-Timing 'bad -> error ratio > 0.2' $clock.Elapsed.TotalSeconds
        $ratio | Should -BeLessThan 0.5

        $firing = Wait-Until { Get-Notification | Where-Object status -EQ 'firing' | Select-Object -First 1 } 20 'firing notification'
        Write-Timing 'bad -> first firing webhook' ($firing.ReceivedAt - $deployed).TotalSeconds
        $firing.version | Should -Be '4'
        $firing.receiver | Should -Be 'webhook'
        $firing.groupLabels.alertname | Should -Be 'CheckoutHighErrorRate'
        $firing.groupLabels.service | Should -Be 'checkout'
        $firing.commonLabels.severity | Should -Be 'critical'
        $firing.alerts | Should -HaveCount 1
        $firing.alerts[0].status | Should -Be 'firing'
        $firing.alerts[0].labels.alertname | Should -Be 'CheckoutHighErrorRate'
        $firing.alerts[0].labels.service | Should -Be 'checkout'
        $firing.alerts[0].labels.severity | Should -Be 'critical'
        $firing.alerts[0].annotations.summary | Should -Match '^checkout: \d+(\.\d+)?% of the requests fail$'
        $firing.alerts[0].generatorURL | Should -Match "^$([regex]::Escape($prometheus.PrometheusUrl))/graph"
        $firing.externalURL | Should -Be $prometheus.AlertmanagerUrl
        ((Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/alerts").data.alerts | Where-Object { $_.labels.alertname -eq 'CheckoutHighErrorRate' }).state | Should -Be 'firing'
        @(Invoke-RestMethod "$($prometheus.AlertmanagerUrl)/api/v2/alerts?active=true").labels.alertname | Should -Contain 'CheckoutHighErrorRate'

        # The notification repeats while the alert fires (repeat_interval 3 s on a group_interval of 2 s).
        $repeats = Wait-Until { $all = @(Get-Notification | Where-Object status -EQ 'firing'); if ($all.Count -ge 3) { , $all } } 20 'two repeated firing notifications'
        $gaps = for ($i = 1; $i -lt 3; $i++) { [Math]::Round(($repeats[$i].ReceivedAt - $repeats[$i - 1].ReceivedAt).TotalSeconds, 1) }
        $timings['firing repeated after'] = $gaps -join ' s, '
        Write-Host "  firing repeated after: $($gaps -join ' s, ') s"
        foreach ($gap in $gaps) { $gap | Should -BeGreaterOrEqual 2.5 }
    }

    It 'back on the good release: the ratio recovers and Alertmanager posts the resolution' {
        $deployed = [DateTime]::UtcNow
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Set-Content $prometheus.ReleaseFile 'good'
        (Invoke-WebRequest "$($prometheus.AppUrl)/health").StatusCode | Should -Be 200

        $null = Wait-Until { $r = Get-ErrorRatio; $null -ne $r -and $r -le 0.2 } 20 'error ratio back at or below 0.2'
        Write-Timing 'good -> error ratio <= 0.2' $clock.Elapsed.TotalSeconds
        $null = Wait-Until { $r = Get-ErrorRatio; $null -ne $r -and $r -lt 0.05 } 20 'error ratio below 0.05'
        Write-Timing 'good -> error ratio < 0.05' $clock.Elapsed.TotalSeconds

        $resolved = Wait-Until { Get-Notification | Where-Object status -EQ 'resolved' | Select-Object -First 1 } 20 'resolved notification'
        Write-Timing 'good -> resolved webhook' ($resolved.ReceivedAt - $deployed).TotalSeconds
        $resolved.groupLabels.alertname | Should -Be 'CheckoutHighErrorRate'
        $resolved.alerts | Should -HaveCount 1
        $resolved.alerts[0].status | Should -Be 'resolved'
        $resolved.alerts[0].labels.service | Should -Be 'checkout'
        [DateTime]$resolved.alerts[0].endsAt | Should -BeGreaterThan ([DateTime]$resolved.alerts[0].startsAt)
    }
}
