BeforeDiscovery {
    # Debian's chromium opens the dashboard headless; without it that test skips, except in CI, where it must fail.
    $skipBrowser = -not (@('/usr/bin/chromium', '/usr/bin/chromium-browser') | Where-Object { Test-Path $_ }) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force

    # A config file at release 1, recorded verified-good, then each later release deployed and rolled back for real
    # (the smoke test passes or fails as given). Returns the file's path.
    function Invoke-ConfigReleases([string] $root, [string] $state, [object[]] $releases) {
        $config = Join-Path $root 'app.yml'
        New-Item -ItemType Directory -Force $root | Out-Null
        Set-Content $config 'release: 1'
        $null = Test-RollbackHealth -Strategy Config -Path $config -SmokeTest { $true } -RecordVerified -StateDirectory $state
        foreach ($release in $releases) {
            Set-Content $config "release: $($release.Version)"
            $smoke = if ($release.Healthy) { { $true } } else { { $false } }
            $null = Invoke-Rollback -Strategy Config -Path $config -SmokeTest $smoke -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
        }

        $config
    }
}

Describe 'Recovery metrics from a journal of real rollbacks' {
    BeforeAll {
        # Two targets rolled back for real: a config file (one recovery, then three failing rollbacks of another
        # release, the third escalated) and a Git checkout (one recovery).
        $root = Join-Path $TestDrive 'metrics'
        $state = Join-Path $root 'state'
        $null = Invoke-ConfigReleases $root $state (@(@{ Version = 2; Healthy = $true }) + @(1..3 | ForEach-Object { @{ Version = 3; Healthy = $false } }))

        $repo = New-TestRepository (Join-Path $root 'repo')
        Invoke-TestGit $repo checkout --quiet v2.3.0 | Out-Null
        $null = Test-RollbackHealth -Strategy Git -Path $repo -SmokeTest { $true } -RecordVerified -StateDirectory $state
        Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
        $null = Invoke-Rollback -Strategy Git -Path $repo -SmokeTest { $true } -StateDirectory $state -Confirm:$false

        $attempts = Get-RollbackHistory -StateDirectory $state
        $configKey = ($attempts | Where-Object Strategy -EQ Config | Select-Object -First 1).TargetKey
        $gitKey = ($attempts | Where-Object Strategy -EQ Git | Select-Object -First 1).TargetKey
        $recoveries = @($attempts | Where-Object TimeToRecovery | ForEach-Object TimeToRecovery | Sort-Object)
    }

    It 'made the journal the figures are checked against' {
        ($attempts | Where-Object TargetKey -EQ $configKey).Outcome | Should -Be @('Escalated', 'Failed', 'Failed', 'Succeeded')
        ($attempts | Where-Object TargetKey -EQ $gitKey).Outcome | Should -Be @('Succeeded')
        $recoveries | Should -HaveCount 2
    }

    It 'gives each target its deployments, change failure rate, rollback success, escalations and recovery time' {
        $metrics = Get-RollbackMetrics -StateDirectory $state
        $metrics | Should -HaveCount 2
        $cfg = $metrics | Where-Object Scope -EQ $configKey
        # Releases 1 (verified), 2 and 3 (rolled back from): 3 seen, 2 failed; 4 rollbacks, 1 succeeded, 1 escalated.
        ($cfg.Deployments, $cfg.FailedDeployments, $cfg.ChangeFailureRate) | Should -Be @(3, 2, 0.6667)
        ($cfg.Rollbacks, $cfg.SucceededRollbacks, $cfg.RollbackSuccessRate, $cfg.Escalations, $cfg.EscalationRate) | Should -Be @(4, 1, 0.25, 1, 0.25)
        $cfg.Recoveries | Should -Be 1
        $cfg.RecoveryTimeWorst | Should -Be ($attempts | Where-Object { $_.TargetKey -eq $configKey -and $_.TimeToRecovery }).TimeToRecovery
        $git = $metrics | Where-Object Scope -EQ $gitKey
        ($git.Deployments, $git.FailedDeployments, $git.ChangeFailureRate, $git.Rollbacks, $git.RollbackSuccessRate, $git.Escalations) | Should -Be @(2, 1, 0.5, 1, 1, 0)
    }

    It 'totals everything, with the median, p90 and worst recovery time' {
        $all = Get-RollbackMetrics -GroupBy All -StateDirectory $state
        ($all.Deployments, $all.FailedDeployments, $all.ChangeFailureRate) | Should -Be @(5, 3, 0.6)
        ($all.Rollbacks, $all.SucceededRollbacks, $all.RollbackSuccessRate, $all.Escalations, $all.EscalationRate) | Should -Be @(5, 2, 0.4, 1, 0.2)
        ($all.AutomaticRollbacks, $all.ManualRollbacks) | Should -Be @(0, 5)
        $all.RecoveryTimeMedian | Should -Be ([TimeSpan]::FromTicks(($recoveries[0].Ticks + $recoveries[1].Ticks) / 2))
        $all.RecoveryTimeP90 | Should -Be $recoveries[1]
        $all.RecoveryTimeWorst | Should -Be $recoveries[1]
        (Get-RollbackMetrics -GroupBy Strategy -StateDirectory $state).Scope | Should -Be @('Config', 'Git')
        (Get-RollbackMetrics -Strategy Git -StateDirectory $state).Scope | Should -Be @($gitKey)
        Get-RollbackMetrics -Since ([DateTime]::Now.AddMinutes(5)) -StateDirectory $state | Should -BeNullOrEmpty
    }

    It 'writes the node_exporter textfile format, whole, where the collector reads it' {
        $text = Get-RollbackMetrics -Format Prometheus -StateDirectory $state
        $lines = $text -split "`n" | Where-Object { $_ }
        $lines | Where-Object { $_ -notmatch '^#' } | ForEach-Object { $_ | Should -Match '^deployment_rollback_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.eE+-]+$' }
        $text | Should -Match ([regex]::Escape("deployment_rollback_change_failure_ratio{target=`"$configKey`"} 0.6667"))
        $text | Should -Match ([regex]::Escape("deployment_rollback_rollbacks{target=`"$configKey`",outcome=`"escalated`"} 1"))
        $text | Should -Match '# TYPE deployment_rollback_recovery_seconds gauge'
        $file = Get-RollbackMetrics -Format Prometheus -GroupBy All -Path (Join-Path $TestDrive 'textfile/deployment_rollback.prom') -StateDirectory $state
        Get-Content -Raw $file.FullName | Should -Match '(?m)^deployment_rollback_deployments 5$'
        { Get-RollbackMetrics -Path (Join-Path $TestDrive 'x.prom') -StateDirectory $state } | Should -Throw -ErrorId 'ParameterNotForStrategy,DeploymentRollback.Commands.GetRollbackMetricsCommand'
    }
}

Describe 'The metrics dashboard in a real browser' -Skip:$skipBrowser {
    It 'charts the recovery time of every incident and the failure rate of every target, offline' {
        $root = Join-Path $TestDrive 'dashboard'
        $state = Join-Path $root 'state'
        $null = Invoke-ConfigReleases $root $state @(@{ Version = 2; Healthy = $true }, @{ Version = 3; Healthy = $true })

        $file = Get-RollbackMetrics -Format Html -Path (Join-Path $root 'metrics.html') -StateDirectory $state
        $chromium = @('/usr/bin/chromium', '/usr/bin/chromium-browser') | Where-Object { Test-Path $_ } | Select-Object -First 1
        $dom = (& $chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run "--user-data-dir=$(Join-Path $TestDrive 'profile')" --dump-dom "file://$($file.FullName)" 2>$null) -join "`n"
        $dom | Should -Match 'data-scope="config:'
        ([regex]::Matches($dom, 'data-recovery="config:')).Count | Should -Be 2
        $dom | Should -Match 'data-rate="config:[^"]*"><text[^>]*>[^<]*</text><rect class="bar Failed"'
        $dom | Should -Match '67 %'
        $dom | Should -Not -Match '<script|<link|<img|@import|url\(|(src|href)="https?:'
    }
}
