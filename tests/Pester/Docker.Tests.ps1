BeforeDiscovery {
    $docker = if (Test-Path /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }
    $ready = (Test-Path /var/run/docker.sock) -and $null -ne (Get-Command $docker -ErrorAction SilentlyContinue) -and
        ((& $docker image inspect drtest/app:2.3.0 drtest/app:2.3.1 2>$null) -and $LASTEXITCODE -eq 0)
    # Without the engine these tests say so and skip, except in CI, where an absent engine must fail the run.
    $skipDocker = -not $ready -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
    # The apps that print logs (tests/Fixtures/Initialize-Docker.ps1 builds them).
    $logsReady = $ready -and ((& $docker image inspect drtest/app-logs:2.3.1 drtest/app-logs:2.3.0 drtest/app-logs:2.2.9 2>$null) -and $LASTEXITCODE -eq 0)
    $skipLogs = -not $logsReady -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $docker = if (Test-Path /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }
    function Invoke-Docker { $output = & $docker @args 2>&1; if ($LASTEXITCODE) { throw "docker $args failed: $output" }; $output }
    function Remove-TestContainers([string] $pattern) {
        $ids = & $docker ps -aq --filter "name=$pattern" 2>$null
        if ($ids) { & $docker rm -f @ids 2>&1 | Out-Null }
    }
}

Describe 'Container strategy against the real Docker engine' -Skip:$skipDocker {
    BeforeEach {
        $name = 'drpester-' + [Guid]::NewGuid().ToString('N').Substring(0, 8)
        $port = Get-FreePort
        $state = Join-Path $TestDrive $name
        $health = "http://127.0.0.1:$port/health"
        Invoke-Docker run -d --init --network host --name $name -e "APP_PORT=$port" -e 'DB_PASSWORD=pester-secret' drtest/app:2.3.1 | Out-Null
    }

    AfterEach { Remove-TestContainers $name }

    It 'assesses an unhealthy container' {
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while ((Invoke-Docker inspect -f '{{.State.Health.Status}}' $name) -ne 'unhealthy' -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 250 }
        $assessment = Get-RollbackAssessment -Strategy Container -Name $name -StateDirectory $state
        $assessment.FailureType | Should -Be 'HealthCheckFailed'
        $assessment.CurrentVersion | Should -Be 'drtest/app:2.3.1'
        $assessment.Facts['health'] | Should -Be 'unhealthy'
    }

    It 'recreates the container from the good image, verifies it, and reports' {
        $result = Invoke-Rollback -Strategy Container -Name $name -Target drtest/app:2.3.0 -HealthCheckUri $health -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $result.Verification | Should -Be 'Passed'
        Invoke-Docker inspect -f '{{.Config.Image}} {{.State.Health.Status}}' $name | Should -Be 'drtest/app:2.3.0 healthy'
        (Invoke-Docker inspect -f '{{json .Config.Env}}' $name) | Should -Match "APP_PORT=$port"
        $report = $result | Test-RollbackHealth -Uri $health | New-RollbackIncidentReport
        Get-Content -Raw $report.MarkdownPath | Should -Match 'drtest/app:2.3.0'
        Get-ChildItem -Recurse -File (Join-Path $state 'checkpoints') | Get-Content -Raw | Should -Not -Match 'pester-secret'
    }

    It 'changes nothing under -WhatIf' {
        $id = Invoke-Docker inspect -f '{{.Id}}' $name
        $child = Invoke-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Container -Name $name -Target drtest/app:2.3.0 -StateDirectory '$state' -WhatIf"
        $child.Output | Should -Match 'What if: .*Stop container'
        $child.Output | Should -Match 'What if: .*Create'
        Invoke-Docker inspect -f '{{.Id}}' $name | Should -Be $id
    }

    It 'reports a missing container, image or name by error id' {
        { Invoke-Rollback -Strategy Container -Name 'drpester-none' -Target drtest/app:2.3.0 -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'ContainerNotFound,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Invoke-Rollback -Strategy Container -Name $name -Target drtest/app:0.0.1 -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'ContainerImageNotFound,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Invoke-Rollback -Strategy Container -Target drtest/app:2.3.0 -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'ContainerNameMissing,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Get-RollbackAssessment -Strategy Container -Name $name -DockerHost 'unix:///tmp/no-engine.sock' -StateDirectory $state } | Should -Throw -ErrorId 'DockerEngineUnreachable,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
    }
}

Describe 'DockerCompose strategy against the real engine and Compose CLI' -Skip:$skipDocker {
    BeforeEach {
        $project = 'drpester' + [Guid]::NewGuid().ToString('N').Substring(0, 8)
        $folder = Join-Path $TestDrive $project
        $state = Join-Path $folder '.state'
        New-Item -ItemType Directory $folder | Out-Null
        $webPort = Get-FreePort
        $workerPort = Get-FreePort
        & (Join-Path $PSScriptRoot '../Fixtures/New-ComposeProject.ps1') -Path $folder -WebPort $webPort -WorkerPort $workerPort
        Push-Location $folder
        try { docker-compose -p $project up -d 2>&1 | Out-Null } finally { Pop-Location }
        function Get-ServiceContainer([string] $service) { Invoke-Docker ps -aq --no-trunc --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" }
        # docker-compose's own script in a folder of its own (returned, to put first on PATH), run by a python3 there
        # that is the shell script given.
        function New-ComposeUnder([string] $name, [string] $interpreter) {
            $bin = Join-Path $TestDrive "$name-$project"
            $null = New-Item -ItemType Directory $bin
            $python = Join-Path $bin 'python3'
            Set-Content $python $interpreter
            $compose = Join-Path $bin 'docker-compose'
            Set-Content $compose (@("#!$python") + @(Get-Content /usr/bin/docker-compose | Select-Object -Skip 1))
            chmod +x $python $compose
            $bin
        }
    }

    AfterEach {
        $ids = & $docker ps -aq --filter "label=com.docker.compose.project=$project"
        if ($ids) { & $docker rm -f @ids 2>&1 | Out-Null }
    }

    It 'rolls back only the named service to the previous file, leaving the others untouched' {
        $worker = Get-ServiceContainer worker
        $result = Invoke-Rollback -Strategy DockerCompose -Path $folder -ProjectName $project -PreviousFile docker-compose.previous.yml -Service web `
            -HealthCheckUri "http://127.0.0.1:$webPort/health" -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        Invoke-Docker inspect -f '{{.Config.Image}}' (Get-ServiceContainer web) | Should -Be 'drtest/app:2.3.0'
        Get-ServiceContainer worker | Should -Be $worker
    }

    It 'starts Python once for every Compose v1 command of a rollback, and once per command when docker-compose is not a Python script' {
        # A counted interpreter: docker-compose's own script under a python3 that logs each start. The rollback runs in a
        # fresh pwsh, so its Compose CLI is detected through this PATH.
        # The helper's requests are kept too (tee), to count what it is asked.
        $log = Join-Path $TestDrive "starts-$project.log"
        $requests = Join-Path $TestDrive "requests-$project.log"
        $bin = New-ComposeUnder 'bin' "#!/bin/sh`nif [ `"`$1`" = -c ]; then echo helper >> '$log'; tee -a '$requests' | /usr/bin/python3 `"`$@`"; exit `$?; fi`necho `"compose `$2`" >> '$log'`nexec /usr/bin/python3 `"`$@`"`n"
        $compose = Join-Path $bin 'docker-compose'
        $script = @"
Import-Module '$(Get-TestModulePath)'
`$result = Invoke-Rollback -Strategy DockerCompose -Path '$folder' -ProjectName $project -PreviousFile docker-compose.previous.yml -Service web -HealthCheckUri 'http://127.0.0.1:$webPort/health' -StateDirectory '$state' -Confirm:`$false
`$result.Outcome
"@
        $run = Invoke-ChildPwsh -Script $script -Environment @{ PATH = "$bin$([IO.Path]::PathSeparator)$env:PATH" }
        $run.Output.Trim() | Should -Be 'Succeeded' -Because $run.Error
        Invoke-Docker inspect -f '{{.Config.Image}}' (Get-ServiceContainer web) | Should -Be 'drtest/app:2.3.0'
        # One helper for everything: the version (a Python script is Compose v1; the helper says which one), both
        # configurations, 'up' and the verified-good record.
        Get-Content $log | Should -Be @('helper')
        # The version is asked once, though the project's and the target's configurations are read at once.
        @(Select-String -Path $requests -Pattern '"command":\["version"\]').Count | Should -Be 1
        @(Select-String -Path $requests -Pattern '"config"').Count | Should -BeGreaterOrEqual 2

        # Not a Python script (a wrapper, or Compose's standalone build): each command is its own process, as before:
        # the detection, the project's and the target's configurations (at once, in either order), 'up', and the
        # configuration kept once the project is verified good.
        Set-Content $compose "#!/bin/sh`necho `"compose `$1`" >> '$log'`nexec /usr/bin/docker-compose `"`$@`"`n"
        Remove-Item $log
        Invoke-Docker rm -f (Get-ServiceContainer web) | Out-Null
        Push-Location $folder
        try { docker-compose -p $project up -d --no-deps web 2>&1 | Out-Null } finally { Pop-Location }
        Remove-Item (Join-Path $state 'cache') -Recurse -ErrorAction SilentlyContinue
        $run = Invoke-ChildPwsh -Script $script -Environment @{ PATH = "$bin$([IO.Path]::PathSeparator)$env:PATH" }
        $run.Output.Trim() | Should -Be 'Succeeded' -Because $run.Error
        Invoke-Docker inspect -f '{{.Config.Image}}' (Get-ServiceContainer web) | Should -Be 'drtest/app:2.3.0'
        @(Get-Content $log | Sort-Object) | Should -Be @('compose -f', 'compose -f', 'compose -f', 'compose -p', 'compose version')
    }

    It 'killed while its helper runs up, leaves a helper that finishes it and ends; the rerun takes over from the interrupted attempt' {
        # The failed web ignores its stop signal and the previous file gives it 3 s to stop, so 'up', which stops it
        # before it starts the good one, takes that long.
        $current = Join-Path $folder 'docker-compose.yml'
        $previous = Join-Path $folder 'docker-compose.previous.yml'
        $webLine = "      APP_PORT: `"$webPort`""
        Set-Content $current (Get-Content -Raw $current).Replace($webLine, "$webLine`n    stop_signal: SIGWINCH")
        Set-Content $previous (Get-Content -Raw $previous).Replace($webLine, "$webLine`n    stop_grace_period: 3s")
        Push-Location $folder
        try { docker-compose -p $project up -d 2>&1 | Out-Null } finally { Pop-Location }
        $failed = Get-ServiceContainer web
        Invoke-Docker inspect -f '{{.Config.StopSignal}}' $failed | Should -Be 'SIGWINCH'

        # Compose's own script under an interpreter that keeps the helper's requests (tee), to see 'up' arrive.
        $requests = Join-Path $TestDrive "requests-$project.log"
        $bin = New-ComposeUnder 'kill' "#!/bin/sh`nif [ `"`$1`" = -c ]; then tee -a '$requests' | /usr/bin/python3 `"`$@`"; exit `$?; fi`nexec /usr/bin/python3 `"`$@`"`n"
        # kill -9 of the module's process alone once the helper has 'up' in hand, while the failed web is still being stopped.
        $script = @"
Import-Module '$(Get-TestModulePath)'
Invoke-Rollback -Strategy DockerCompose -Path '$folder' -ProjectName $project -PreviousFile docker-compose.previous.yml -Service web -HealthCheckUri 'http://127.0.0.1:$webPort/health' -StateDirectory '$state' -Confirm:`$false
"@
        $helpers = @(Stop-ChildPwshWhen -Script $script -Environment @{ PATH = "$bin$([IO.Path]::PathSeparator)$env:PATH" } `
            -Until { (Test-Path $requests) -and (Select-String -Path $requests -Pattern '"up","-d"' -SimpleMatch -Quiet) })
        @($helpers | Where-Object ProcessName -Like 'python3*') | Should -Not -BeNullOrEmpty
        Get-ServiceContainer web | Should -Be $failed -Because "'up' is still stopping the failed container"
        foreach ($helper in $helpers) { $helper.WaitForExit(60000) | Should -BeTrue -Because "$($helper.ProcessName) $($helper.Id) should end once 'up' is done" }
        $web = Get-ServiceContainer web
        $web | Should -Not -Be $failed
        Invoke-Docker inspect -f '{{.Config.Image}} {{.State.Running}}' $web | Should -Be 'drtest/app:2.3.0 true'

        $rerun = Invoke-Rollback -Strategy DockerCompose -Path $folder -ProjectName $project -PreviousFile docker-compose.previous.yml -Service web `
            -HealthCheckUri "http://127.0.0.1:$webPort/health" -StateDirectory $state -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $rerun.Outcome | Should -Be 'Skipped'
        "$warnings" | Should -Match 'was interrupted during ComposeUp'
        (Get-RollbackHistory -TargetKey $rerun.TargetKey -StateDirectory $state | Where-Object Outcome -EQ 'Interrupted') | Should -HaveCount 1
    }

    It 'reports a Compose v1 that cannot run as ComposeNotInstalled, and changes nothing' {
        # docker-compose's own script under an interpreter that cannot import Compose (no site packages): a broken install.
        $bin = New-ComposeUnder 'broken' "#!/bin/sh`nexec /usr/bin/python3 -S `"`$@`"`n"
        $web = Get-ServiceContainer web
        $script = @"
Import-Module '$(Get-TestModulePath)'
try { Invoke-Rollback -Strategy DockerCompose -Path '$folder' -ProjectName $project -PreviousFile docker-compose.previous.yml -Service web -StateDirectory '$state' -Confirm:`$false -ErrorAction Stop; 'no error' }
catch { `$_.FullyQualifiedErrorId; `$_.Exception.Message }
"@
        $run = Invoke-ChildPwsh -Script $script -Environment @{ PATH = "$bin$([IO.Path]::PathSeparator)$env:PATH" }
        $lines = @($run.Output -split "`n" | ForEach-Object Trim | Where-Object { $_ })
        $lines[0] | Should -Be 'ComposeNotInstalled,DeploymentRollback.Commands.InvokeRollbackCommand' -Because $run.Error
        $run.Output | Should -Match "'docker-compose' is installed but does not run \('docker-compose version' failed with exit code 1: [\w.]*Error: [^`n]*\)\. Repair it"
        Get-ServiceContainer web | Should -Be $web
        Invoke-Docker inspect -f '{{.Config.Image}}' $web | Should -Be 'drtest/app:2.3.1'
    }

    It 'names the known services when asked for one that does not exist' {
        { Invoke-Rollback -Strategy DockerCompose -Path $folder -ProjectName $project -PreviousFile docker-compose.previous.yml -Service db -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'ComposeServiceNotFound,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*web, worker*'
    }
}

Describe 'No error spikes in logs, from the logs of a container before and after its rollback' -Skip:$skipLogs {
    BeforeEach {
        $name = 'logs-' + [Guid]::NewGuid().ToString('N').Substring(0, 8)
        $port = Get-FreePort
        $state = Join-Path $TestDrive $name
        $health = "http://127.0.0.1:$port/health"
        # 4 error lines in 10, one with a database password in its URL.
        Invoke-Docker run -d --init --network host --name $name -e "APP_PORT=$port" drtest/app-logs:2.3.1 | Out-Null
    }

    AfterEach { Remove-TestContainers $name }

    It 'ticks the item with the counts, and the report says so' {
        $result = Invoke-Rollback -Strategy Container -Name $name -Target drtest/app-logs:2.3.0 -HealthCheckUri $health -StateDirectory $state -Confirm:$false -Verbose 4>&1 |
            Tee-Object -Variable output | Where-Object { $_ -is [DeploymentRollback.RollbackResult] }
        $result.Outcome | Should -Be 'Succeeded'
        ($output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain 'Error lines in the logs: 1 error line in 8 after the rollback against 4 in 10 before.'
        $item = $result | Get-RollbackChecklist | Where-Object Item -EQ 'No error spikes in logs'
        $item.Done | Should -BeTrue
        $item.Evidence | Should -Be '1 error line in 8 after the rollback against 4 in 10 before'
        $report = $result | New-RollbackIncidentReport -Format Html
        Get-Content -Raw $report.MarkdownPath | Should -Match ([regex]::Escape('- [x] No error spikes in logs: 1 error line in 8 after the rollback against 4 in 10 before'))
        (Get-Content -Raw $report.JsonPath | ConvertFrom-Json).report.Checklist.Evidence | Should -Contain '1 error line in 8 after the rollback against 4 in 10 before'
        Get-Content -Raw $report.HtmlPath | Should -Match '1 error line in 8 after the rollback against 4 in 10 before'
        (Get-RollbackCheckpoint -StateDirectory $state).Logs | Should -Be 'logs.txt'
        Get-ChildItem -Recurse -File $state | Get-Content -Raw | Should -Not -Match 'hunter2-logs'
    }

    It 'warns of a spike and leaves the item unticked when the release rolled back to logs more errors' {
        $result = Invoke-Rollback -Strategy Container -Name $name -Target drtest/app-logs:2.2.9 -HealthCheckUri $health -StateDirectory $state -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Outcome | Should -Be 'Succeeded'
        $warnings.Message | Should -Match '^Error lines in the logs: spike: 5 error lines in 6 after the rollback against 4 in 10 before\. For example: .*ERROR payment gateway answered 502$'
        $item = $result | Get-RollbackChecklist | Where-Object Item -EQ 'No error spikes in logs'
        $item.Done | Should -BeFalse
        $item.Evidence | Should -Be 'spike: 5 error lines in 6 after the rollback against 4 in 10 before'
    }
}
