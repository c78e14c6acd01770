BeforeDiscovery {
    # A whole service on real parts: an Unleash flag, a config file, a Compose project on the Docker engine, and a Django
    # app on PostgreSQL. Without them these tests skip, except in CI, where they must fail.
    $docker = if (Test-Path /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }
    $dockerReady = (Test-Path /var/run/docker.sock) -and ((& $docker image inspect drtest/app:2.3.0 drtest/app:2.3.1 2>$null) -and $LASTEXITCODE -eq 0)
    $djangoReady = (Test-Path /usr/bin/python3) -and $null -ne (& /usr/bin/python3 -c 'import django, psycopg2; print(1)' 2>$null)
    $skipService = -not ($dockerReady -and $djangoReady -and $env:DEPLOYMENT_ROLLBACK_UNLEASH_URL -and $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT) -and
        $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force

    # A folder with a Git-deployed app (v2.3.0, then v2.4.0), a config file and a plan of both; the service's smoke
    # test passes only on v2.3.0's code.
    function New-LocalService([string] $root, [string] $plan) {
        New-Item -ItemType Directory -Force $root | Out-Null
        $app = Join-Path $root 'app'
        New-Item -ItemType Directory -Force $app | Out-Null
        Invoke-TestGit $app init --quiet --initial-branch main | Out-Null
        Invoke-TestGit $app config user.name 'Test Deployer' | Out-Null
        Invoke-TestGit $app config user.email 'deployer@example.invalid' | Out-Null
        Set-Content (Join-Path $app 'VERSION') 'v2.3.0'
        Invoke-TestGit $app add VERSION | Out-Null
        Invoke-TestGit $app commit --quiet -m 'Release v2.3.0' | Out-Null
        Invoke-TestGit $app tag v2.3.0 | Out-Null
        Set-Content (Join-Path $root 'app.yml') "mode: classic"
        Set-Content (Join-Path $root 'smoke.sh') "#!/bin/sh`ngrep -q v2.3.0 '$app/VERSION'"
        & chmod +x (Join-Path $root 'smoke.sh')
        Set-Content (Join-Path $root 'rollback.psd1') $plan
    }

    # The plan of a local service: its code and config (with more keys for the config, and more components).
    function Get-LocalPlan([string] $id, [string] $ConfigKeys, [string] $More) {
        $config = if ($ConfigKeys) { "; $ConfigKeys" } else { '' }
        "@{ Service = 'svc-$id'; Components = @( @{ Name = 'code'; Strategy = 'Git'; Path = './app' }; @{ Name = 'config'; Strategy = 'Config'; Path = './app.yml'$config }$(if ($More) { "; $More" }) ); SmokeTest = './smoke.sh' }"
    }

    function Set-LocalServiceRelease([string] $root, [string] $version, [string] $mode) {
        $app = Join-Path $root 'app'
        Set-Content (Join-Path $app 'VERSION') $version
        Invoke-TestGit $app commit --quiet -am "Release $version" | Out-Null
        Invoke-TestGit $app tag $version | Out-Null
        Set-Content (Join-Path $root 'app.yml') "mode: $mode"
    }
}

Describe 'A release plan of a whole service on real components' -Skip:$skipService {
    BeforeAll {
        $docker = if (Test-Path /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }
        $psql = (Get-Command psql -ErrorAction SilentlyContinue).Source
        if (-not $psql) { $psql = Get-ChildItem /usr/lib/postgresql/*/bin/psql -ErrorAction SilentlyContinue | Select-Object -Last 1 -ExpandProperty FullName }
        $admin = @{ Authorization = $env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN }
        $unleashUri = $env:DEPLOYMENT_ROLLBACK_UNLEASH_URL
        $unleashProject = $env:DEPLOYMENT_ROLLBACK_UNLEASH_PROJECT
        $unleashEnvironment = $env:DEPLOYMENT_ROLLBACK_UNLEASH_ENVIRONMENT
        $token = ConvertTo-SecureString $env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN -AsPlainText -Force

        function Set-Flag([string] $flag, [bool] $on) {
            $null = Invoke-RestMethod -Method Post "$unleashUri/api/admin/projects/$unleashProject/features/$flag/environments/$unleashEnvironment/$(if ($on) { 'on' } else { 'off' })" -Headers $admin -SkipHeaderValidation
        }
        function Get-FlagEnabled([string] $flag) {
            ((Invoke-RestMethod "$unleashUri/api/admin/projects/$unleashProject/features/$flag" -Headers $admin -SkipHeaderValidation).environments | Where-Object name -EQ $unleashEnvironment).enabled
        }
        function Invoke-Manage { Push-Location $app; try { & /usr/bin/python3 manage.py @args 2>&1 } finally { Pop-Location } }
        function Set-WebImage([string] $version) {
            Set-Content (Join-Path $root 'compose/docker-compose.yml') @"
version: "2.4"
services:
  web:
    image: drtest/app:$version
    network_mode: host
    init: true
    environment:
      APP_PORT: "$webPort"
"@
            Push-Location (Join-Path $root 'compose')
            try { docker-compose -p $project up -d 2>&1 | Out-Null } finally { Pop-Location }
        }
        # The web container's image, as the tag it was released under (a rollback pins the image id, which tags move away from).
        function Get-WebImage {
            $container = & $docker ps -q --filter "label=com.docker.compose.project=$project" --filter 'label=com.docker.compose.service=web'
            $imageId = & $docker inspect -f '{{.Image}}' $container
            foreach ($tag in 'drtest/app:2.3.0', 'drtest/app:2.3.1') { if ((& $docker image inspect -f '{{.Id}}' $tag) -eq $imageId) { return $tag } }
            $imageId
        }
        function Wait-WebHealthy {
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline) {
                try { if ((Invoke-WebRequest "http://127.0.0.1:$webPort/health" -SkipHttpErrorCheck -TimeoutSec 2).StatusCode -eq 200) { return } } catch { }
                Start-Sleep -Milliseconds 250
            }
            throw 'web did not become healthy'
        }
    }

    BeforeEach {
        # The service as released and verified at v2.3.0: flag off, config v1, web on drtest/app:2.3.0, schema at 0001.
        $id = [Guid]::NewGuid().ToString('N').Substring(0, 8)
        $root = Join-Path $TestDrive "shop-$id"
        $state = Join-Path $root '.state'
        $flag = "plan-$id"
        $project = "drplan$id"
        $database = "drplan_$id"
        $webPort = Get-FreePort
        New-Item -ItemType Directory -Force (Join-Path $root 'compose'), (Join-Path $root 'config') | Out-Null
        $app = Join-Path $root 'app'
        Copy-Item (Join-Path $PSScriptRoot '../Fixtures/django-app') $app -Recurse
        & $psql -h 127.0.0.1 -p $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT -U postgres -d postgres -qc "CREATE DATABASE $database" | Out-Null
        $env:DJANGO_DB_NAME = $database; $env:DJANGO_DB_PORT = $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT
        try { $null = Invoke-Manage migrate orders 0001 } finally { Remove-Item Env:DJANGO_DB_NAME, Env:DJANGO_DB_PORT }
        $null = Invoke-RestMethod -Method Post "$unleashUri/api/admin/projects/$unleashProject/features" -Headers $admin -SkipHeaderValidation -ContentType 'application/json' -Body (@{ name = $flag; type = 'release' } | ConvertTo-Json)
        Set-Content (Join-Path $root 'config/app.yml') 'checkout: classic'
        Set-WebImage '2.3.0'
        Wait-WebHealthy
        Set-Content (Join-Path $root 'rollback.psd1') @"
@{
    Service    = 'shop-$id'
    Components = @(
        @{ Name = 'schema'; Strategy = 'Database'; Tool = 'Django'; Path = './app'; App = 'orders'; ToolEnvironment = @{ DJANGO_DB_NAME = '$database'; DJANGO_DB_PORT = '$($env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT)' } }
        @{ Name = 'web'; Strategy = 'DockerCompose'; Path = './compose'; ProjectName = '$project'; TimeoutSec = 60 }
        @{ Name = 'config'; Strategy = 'Config'; Path = './config/app.yml' }
        @{ Name = 'checkout-flag'; Strategy = 'FeatureFlag'; Provider = 'Unleash'; Uri = '$unleashUri'; Project = '$unleashProject'; Environment = '$unleashEnvironment'; Flag = '$flag' }
    )
    HealthCheckUri = 'http://127.0.0.1:$webPort/health'
    HealthCheckRetries = 10
    HealthCheckRetryIntervalSec = 1
}
"@
        $plan = Join-Path $root 'rollback.psd1'
        $secrets = @{ 'checkout-flag' = @{ ApiToken = $token } }
        $recorded = Test-RollbackHealth -Plan $plan -RecordVerified -Label v2.3.0 -ComponentParameter $secrets -StateDirectory $state -Confirm:$false
        $recorded.RecordedVerifiedVersion | Should -Match '^rel-'

        # Release v2.4.0: the flag on, new config, web on the failing 2.3.1, a new migration.
        function Deploy-Release([string] $migration) {
            Set-Flag $flag $true
            Set-Content (Join-Path $root 'config/app.yml') 'checkout: new'
            Set-WebImage '2.3.1'
            $env:DJANGO_DB_NAME = $database; $env:DJANGO_DB_PORT = $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT
            try { $null = Invoke-Manage migrate orders $migration } finally { Remove-Item Env:DJANGO_DB_NAME, Env:DJANGO_DB_PORT }
        }
        function Get-Schema {
            $env:DJANGO_DB_NAME = $database; $env:DJANGO_DB_PORT = $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT
            try { (Invoke-Manage showmigrations orders) -join ' ' } finally { Remove-Item Env:DJANGO_DB_NAME, Env:DJANGO_DB_PORT }
        }
    }

    AfterEach {
        Push-Location (Join-Path $root 'compose')
        try { docker-compose -p $project down -t 1 2>&1 | Out-Null } finally { Pop-Location }
    }

    It 'rolls back the flag, the config, the containers and the schema in that order, verifies the service, and reports one incident' {
        Deploy-Release '0002'
        $assessment = Get-RollbackAssessment -Plan $plan -ComponentParameter $secrets -StateDirectory $state
        $assessment.ReleaseLabel | Should -Be 'v2.3.0'
        $assessment.Components.Name | Should -Be @('checkout-flag', 'config', 'web', 'schema')
        $assessment.Components | ForEach-Object { $_.Selected | Should -BeTrue -Because "$($_.Name) differs and the service fails" }
        $assessment.CanRollBack | Should -BeTrue

        $result = Invoke-Rollback -Plan $plan -ComponentParameter $secrets -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $result.Verification | Should -Be 'Passed'
        $result.Components.Action | Should -Be @('RolledBack', 'RolledBack', 'RolledBack', 'RolledBack')

        # The order, from the journal: each component's attempt started after the one before it finished.
        $attempts = $result.Components | ForEach-Object { Get-RollbackHistory -TargetKey $_.TargetKey -AttemptId $_.AttemptId -StateDirectory $state }
        for ($i = 1; $i -lt $attempts.Count; $i++) { $attempts[$i].StartedAt | Should -BeGreaterOrEqual $attempts[$i - 1].CompletedAt }

        # Each component's real state.
        Get-FlagEnabled $flag | Should -BeFalse
        Get-Content (Join-Path $root 'config/app.yml') | Should -Be 'checkout: classic'
        Get-WebImage | Should -Be 'drtest/app:2.3.0'
        Get-Schema | Should -Match '\[X\] 0001_initial\s+\[ \] 0002_add_note'
        $result.Components | ForEach-Object { $_.VersionNow | Should -Not -BeNullOrEmpty }

        # One incident: the plan's report lists every component, and the token is nowhere in the state.
        $report = New-RollbackIncidentReport -Plan $plan -StateDirectory $state
        $markdown = Get-Content -Raw $report.MarkdownPath
        foreach ($name in 'checkout-flag', 'config', 'web', 'schema') { $markdown | Should -Match "\| $name \|" }
        (Get-RollbackChecklist -Plan $plan -StateDirectory $state | Where-Object Done).Count | Should -BeGreaterThan 0
        Get-ChildItem -Recurse -File $state | Where-Object Length -LT 10MB | Get-Content -Raw | Should -Not -Match ([regex]::Escape($env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN))
        (Get-RollbackSignal -Name ROLLBACK_COMPLETE -StateDirectory $state | Where-Object Subject -EQ "plan:shop-$id").Data.components.Count | Should -Be 4
    }

    It 'finds an irreversible migration in preflight and changes nothing at all; -SkipComponent then rolls back the rest' {
        Deploy-Release '0003'
        { Invoke-Rollback -Plan $plan -ComponentParameter $secrets -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'PlanPreflightFailed,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*0003_backfill*roll forward*'
        Get-FlagEnabled $flag | Should -BeTrue
        Get-Content (Join-Path $root 'config/app.yml') | Should -Be 'checkout: new'
        Get-WebImage | Should -Be 'drtest/app:2.3.1'
        Get-Schema | Should -Match '\[X\] 0003_backfill'
        Get-RollbackHistory -TargetKey "plan:shop-$id" -StateDirectory $state | Should -BeNullOrEmpty
        Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state | Should -HaveCount 1

        $result = Invoke-Rollback -Plan $plan -ComponentParameter $secrets -SkipComponent schema -SkipReason 'rolling the schema forward' -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        ($result.Components | Where-Object Name -EQ schema).Action | Should -Be 'Skipped'
        ($result.Components | Where-Object Name -EQ schema).Reason | Should -Match 'rolling the schema forward'
        Get-WebImage | Should -Be 'drtest/app:2.3.0'
        Get-Schema | Should -Match '\[X\] 0003_backfill'
    }

    It 'rolls back only the failing component when the others pass their own checks' {
        # The config has a check of its own that passes on the new config: it differs, but it is not what fails.
        (Get-Content -Raw $plan) -replace "Path = './config/app.yml' \}", "Path = './config/app.yml'; SmokeTest = './config-ok.sh' }" | Set-Content $plan
        Set-Content (Join-Path $root 'config-ok.sh') "#!/bin/sh`nexit 0"
        & chmod +x (Join-Path $root 'config-ok.sh')
        Set-Content (Join-Path $root 'config/app.yml') 'checkout: new'
        Set-WebImage '2.3.1'

        $result = Invoke-Rollback -Plan $plan -ComponentParameter $secrets -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        ($result.Components | Where-Object Action -EQ 'RolledBack').Name | Should -Be @('web')
        ($result.Components | Where-Object Name -EQ config).Reason | Should -Match 'passes its checks'
        Get-Content (Join-Path $root 'config/app.yml') | Should -Be 'checkout: new'
        Get-WebImage | Should -Be 'drtest/app:2.3.0'
    }
}

Describe 'Release plans: order, failures, -WhatIf, concurrency and bad plan files' {
    BeforeEach {
        $id = [Guid]::NewGuid().ToString('N').Substring(0, 8)
        $root = Join-Path $TestDrive "svc-$id"
        $state = Join-Path $root '.state'
        $plan = Join-Path $root 'rollback.psd1'
    }

    It 'stops after a failed component by default, and goes on with -ContinueOnError; the result says where each component is' {
        New-LocalService $root (Get-LocalPlan $id -ConfigKeys "SmokeTest = './config-check.sh'")
        Set-Content (Join-Path $root 'config-check.sh') "#!/bin/sh`ngrep -q classic '$root/app.yml'"
        & chmod +x (Join-Path $root 'config-check.sh')
        (Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false).RecordedVerifiedVersion | Should -Not -BeNullOrEmpty
        Set-LocalServiceRelease $root 'v2.4.0' 'new'
        # The config's own check now fails whatever the file holds: its rollback fails its verification.
        Set-Content (Join-Path $root 'config-check.sh') "#!/bin/sh`nexit 1"

        $stopped = Invoke-Rollback -Plan $plan -CheckpointName incident-42 -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
        $stopped.CheckpointName | Should -Be 'config: incident-42-config'
        (Get-RollbackCheckpoint -Name incident-42-config -StateDirectory $state).Name | Should -Be 'incident-42-config' 
        $stopped.Outcome | Should -Be 'Failed'
        ($stopped.Components | Where-Object Name -EQ config).Action | Should -Be 'Failed'
        ($stopped.Components | Where-Object Name -EQ code).Action | Should -Be 'NotRun'
        ($stopped.Components | Where-Object Name -EQ code).VersionNow | Should -Be 'v2.4.0'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.4.0'

        # The config went back but its check still fails; put the new config back to fail the same way again.
        Get-Content (Join-Path $root 'app.yml') | Should -Be 'mode: classic'
        Set-Content (Join-Path $root 'app.yml') 'mode: new'
        $continued = Invoke-Rollback -Plan $plan -ContinueOnError -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
        $continued.Outcome | Should -Be 'Failed' -Because ($continued.Components | Format-Table Name, Action, Outcome, Message | Out-String)
        ($continued.Components | Where-Object Name -EQ code).Action | Should -Be 'RolledBack'
        ($continued.Components | Where-Object Name -EQ code).VersionNow | Should -Be 'v2.3.0'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.3.0'
        (Get-RollbackHistory -TargetKey "plan:svc-$id" -StateDirectory $state).Count | Should -Be 2

        # The third failure of the service within the hour escalates it, and a fourth run is refused.
        Set-Content (Join-Path $root 'app.yml') 'mode: new'
        $third = Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
        $third.Outcome | Should -Be 'Escalated'
        Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state | Where-Object Subject -EQ "plan:svc-$id" | Should -Not -BeNullOrEmpty
        { Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'RollbackEscalated,DeploymentRollback.Commands.InvokeRollbackCommand'
    }

    It 'goes back to an older release with -Target, every component to that release''s version' {
        New-LocalService $root (Get-LocalPlan $id)
        Set-Content (Join-Path $root 'smoke.sh') "#!/bin/sh`n! grep -q v2.5.0 '$root/app/VERSION'"
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false
        Set-LocalServiceRelease $root 'v2.4.0' 'mid'
        (Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false).Version | Should -Be 'v2.4.0'
        Set-LocalServiceRelease $root 'v2.5.0' 'new'
        (Get-RollbackHistory -Plan $plan -StateDirectory $state).Label | Should -Be @('v2.4.0', 'v2.3.0')

        $result = Invoke-Rollback -Plan $plan -Target v2.3.0 -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $result.ToVersion | Should -Match '^v2\.3\.0 \(rel-'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.3.0'
        Get-Content (Join-Path $root 'app.yml') | Should -Be 'mode: classic'
        { Invoke-Rollback -Plan $plan -Target v9.9.9 -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'ReleaseSnapshotNotFound,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*v2.4.0*v2.3.0*'
    }

    It 'refuses a damaged newest release snapshot instead of going back further, and takes -Target naming a readable one' {
        New-LocalService $root (Get-LocalPlan $id)
        Set-Content (Join-Path $root 'smoke.sh') "#!/bin/sh`n! grep -q v2.5.0 '$root/app/VERSION'"
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false
        Set-LocalServiceRelease $root 'v2.4.0' 'mid'
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false
        Set-LocalServiceRelease $root 'v2.5.0' 'new'
        # The newest snapshot's record damaged, as a torn write or a disk fault leaves it.
        & python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(""UPDATE events SET detail='{""""Release' WHERE id=(SELECT max(id) FROM events WHERE kind='ReleaseRecorded')""); c.commit()" (Join-Path $state 'journal.db')
        $LASTEXITCODE | Should -Be 0

        (Get-RollbackHistory -Plan $plan -StateDirectory $state).Label | Should -Be @('v2.3.0')
        { Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'JournalCorrupt,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*newest release snapshot*cannot be read*-Target*v2.3.0*'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.5.0'

        $result = Invoke-Rollback -Plan $plan -Target v2.3.0 -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.3.0'
    }

    It 'lists every preflight problem at once (an unreachable flag service, no previous config copy) and changes nothing' {
        New-LocalService $root (Get-LocalPlan $id -More "@{ Name = 'flag'; Strategy = 'FeatureFlag'; Provider = 'Unleash'; Uri = 'http://127.0.0.1:$(Get-FreePort)'; Project = 'default'; Environment = 'production'; Flag = 'new-checkout' }")
        Set-LocalServiceRelease $root 'v2.4.0' 'new'
        $secrets = @{ flag = @{ ApiToken = (ConvertTo-SecureString 'preflight-token' -AsPlainText -Force) } }
        $assessment = Get-RollbackAssessment -Plan $plan -ComponentParameter $secrets -StateDirectory $state -All
        $assessment.CanRollBack | Should -BeFalse
        ($assessment.Components | Where-Object Name -EQ flag).Problems | Should -Match 'FeatureFlag\w*Unreachable|127\.0\.0\.1'
        ($assessment.Components | Where-Object Name -EQ config).Problems | Should -Match 'ConfigPreviousMissing'
        # -WhatIf says so and records nothing; the real run records the failed preflight and pages a person.
        { Invoke-Rollback -Plan $plan -ComponentParameter $secrets -All -StateDirectory $state -WhatIf } | Should -Throw -ErrorId 'PlanPreflightFailed,DeploymentRollback.Commands.InvokeRollbackCommand'
        Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state | Should -BeNullOrEmpty
        { Invoke-Rollback -Plan $plan -ComponentParameter $secrets -All -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'PlanPreflightFailed,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*flag:*config:*'
        Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state | Should -HaveCount 1
        $assessment.Problems | Should -HaveCount 2
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.4.0'
        Get-ChildItem -Recurse -File $state | Get-Content -Raw | Should -Not -Match 'preflight-token'

        # Healthy again, but a release whose flag state cannot be read is not recorded.
        Invoke-TestGit (Join-Path $root 'app') checkout --quiet v2.3.0 | Out-Null
        { Test-RollbackHealth -Plan $plan -ComponentParameter $secrets -RecordVerified -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'ReleaseSnapshotIncomplete,DeploymentRollback.Commands.TestRollbackHealthCommand' -ExpectedMessage '*flag:*'
        Get-RollbackHistory -Plan $plan -StateDirectory $state | Should -BeNullOrEmpty
    }

    It 'after a kill -9 mid-plan, the rerun marks the plan and the component Interrupted and finishes the rollback' {
        New-LocalService $root (Get-LocalPlan $id -ConfigKeys "RestartScript = './slow.sh'")
        $marker = Join-Path $root 'restarting'
        Set-Content (Join-Path $root 'slow.sh') "#!/bin/sh`ntouch '$marker'`nsleep 60"
        & chmod +x (Join-Path $root 'slow.sh')
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false
        Set-LocalServiceRelease $root 'v2.4.0' 'new'

        $child = Start-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Plan '$plan' -StateDirectory '$state' -Confirm:`$false"
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not (Test-Path $marker) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Test-Path $marker | Should -BeTrue -Because 'the config restart should have started'
        & kill -9 $child.Process.Id
        $null = $child | Wait-ChildPwsh
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.4.0'

        Set-Content (Join-Path $root 'slow.sh') "#!/bin/sh`nexit 0"
        $rerun = Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $rerun.Outcome | Should -Be 'Succeeded'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.3.0'
        Get-Content (Join-Path $root 'app.yml') | Should -Be 'mode: classic'
        (Get-RollbackHistory -TargetKey "plan:svc-$id" -StateDirectory $state).Outcome | Should -Be @('Succeeded', 'Interrupted')
        (Get-RollbackHistory -TargetKey ($rerun.Components | Where-Object Name -EQ config).TargetKey -StateDirectory $state).Outcome | Should -Contain 'Interrupted'
        ($warnings -join ' ') | Should -Match 'interrupted'
    }

    It 'after a kill -9 during the service''s restart script, the rerun restarts and verifies the service it had left on the failed release' {
        $running = Join-Path $root 'running'
        $marker = Join-Path $root 'restarting'
        $slow = Join-Path $root 'slow'
        New-LocalService $root "@{ Service = 'svc-$id'; Components = @( @{ Name = 'code'; Strategy = 'Git'; Path = './app' }; @{ Name = 'config'; Strategy = 'Config'; Path = './app.yml' } ); SmokeTest = './smoke.sh'; RestartScript = './restart.sh' }"
        # The service runs what its last restart loaded, so the smoke test passes only once it is restarted on v2.3.0.
        Set-Content (Join-Path $root 'smoke.sh') "#!/bin/sh`ngrep -q v2.3.0 '$running'"
        Set-Content (Join-Path $root 'restart.sh') "#!/bin/sh`nif [ -f '$slow' ]; then touch '$marker'; sleep 60; fi`ncp '$root/app/VERSION' '$running'"
        & chmod +x (Join-Path $root 'restart.sh')
        Copy-Item (Join-Path $root 'app/VERSION') $running
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false
        Set-LocalServiceRelease $root 'v2.4.0' 'new'
        Copy-Item (Join-Path $root 'app/VERSION') $running

        Set-Content $slow ''
        $left = Stop-ChildPwshWhen -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Plan '$plan' -StateDirectory '$state' -Confirm:`$false" -Until { Test-Path $marker }
        $left | Stop-Process -Force -ErrorAction SilentlyContinue
        Remove-Item $slow
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.3.0' -Because 'the components went back before the restart'
        Get-Content $running | Should -Be 'v2.4.0' -Because 'the killed restart never loaded them'

        # Before, the rerun found every component back, did not restart, and failed ("roll forward"), then escalated.
        $rerun = Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
        $rerun.Outcome | Should -Be 'Succeeded'
        $rerun.Verification | Should -Be 'Passed'
        $rerun.Message | Should -Match 'Finished attempt .* interrupted \(Restart\)'
        Get-Content $running | Should -Be 'v2.3.0'
        (Get-RollbackHistory -TargetKey "plan:svc-$id" -StateDirectory $state).Outcome | Should -Be @('Succeeded', 'Interrupted')
        (Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false).Outcome | Should -Be 'Skipped'
    }

    It 'lists every step in order under -WhatIf and changes nothing' {
        New-LocalService $root (Get-LocalPlan $id)
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state -Confirm:$false
        Set-LocalServiceRelease $root 'v2.4.0' 'new'
        $child = Invoke-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Plan '$plan' -StateDirectory '$state' -WhatIf"
        $lines = $child.Output -split "`n" | Where-Object { $_ -match '^What if:' }
        ($lines | Select-Object -First 1) | Should -Match '\[wave 1, config\] Create checkpoint'
        ($lines -join "`n") | Should -Match '(?s)\[wave 1, config\] Replace.*\[wave 2, code\] Check out'
        Get-Content (Join-Path $root 'app/VERSION') | Should -Be 'v2.4.0'
        Get-Content (Join-Path $root 'app.yml') | Should -Be 'mode: new'
        Get-RollbackHistory -TargetKey "plan:svc-$id" -StateDirectory $state | Should -BeNullOrEmpty
        Get-RollbackHistory -StateDirectory $state | Should -BeNullOrEmpty
    }

    It 'runs two plans that share components at once without a deadlock; the second finds them already back' {
        New-LocalService $root 'x'
        Set-Content (Join-Path $root 'a.yml') 'v: 1'
        Set-Content (Join-Path $root 'b.yml') 'v: 1'
        Set-Content (Join-Path $root 'slow.sh') "#!/bin/sh`nsleep 2"
        Set-Content (Join-Path $root 'ok.sh') "#!/bin/sh`ngrep -q 1 '$root/a.yml' && grep -q 1 '$root/b.yml'"
        & chmod +x (Join-Path $root 'slow.sh') (Join-Path $root 'ok.sh')
        # The two plans name the shared files in opposite orders, each with a slow restart: locks taken in file order would deadlock.
        Set-Content (Join-Path $root 'one.psd1') "@{ Service = 'one-$id'; Components = @( @{ Name = 'a'; Strategy = 'Config'; Path = './a.yml'; RestartScript = './slow.sh' }; @{ Name = 'b'; Strategy = 'Config'; Path = './b.yml'; DependsOn = 'a' } ); SmokeTest = './ok.sh' }"
        Set-Content (Join-Path $root 'two.psd1') "@{ Service = 'two-$id'; Components = @( @{ Name = 'b'; Strategy = 'Config'; Path = './b.yml'; RestartScript = './slow.sh' }; @{ Name = 'a'; Strategy = 'Config'; Path = './a.yml'; DependsOn = 'b' } ); SmokeTest = './ok.sh' }"
        foreach ($file in 'one.psd1', 'two.psd1') { $null = Test-RollbackHealth -Plan (Join-Path $root $file) -RecordVerified -StateDirectory $state -Confirm:$false }
        Set-Content (Join-Path $root 'a.yml') 'v: 2'
        Set-Content (Join-Path $root 'b.yml') 'v: 2'

        $children = 'one.psd1', 'two.psd1' | ForEach-Object {
            Start-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; (Invoke-Rollback -Plan '$(Join-Path $root $_)' -StateDirectory '$state' -LockTimeoutSec 60 -Confirm:`$false).Outcome"
        }
        $outcomes = $children | Wait-ChildPwsh
        $outcomes | ForEach-Object { $_.ExitCode | Should -Be 0 -Because $_.Error }
        ($outcomes.Output | ForEach-Object Trim | Sort-Object) | Should -Be @('Skipped', 'Succeeded') -Because ($outcomes.Error -join "`n")
        Get-Content (Join-Path $root 'a.yml'), (Join-Path $root 'b.yml') | Should -Be @('v: 1', 'v: 1')
    }

    It 'reports every problem of a bad plan file with its error id and line, and a bad plan changes nothing' {
        New-Item -ItemType Directory -Force $root | Out-Null
        Set-Content $plan @'
@{
    Service = 'bad'
    Components = @(
        @{ Name = 'code'; Strategy = 'Gti'; Path = '.' }
        @{ Name = 'config'; Strategy = 'Config'; Path = './missing.yml' }
        @{ Name = 'flag'; Strategy = 'FeatureFlag'; Provider = 'Unleash'; Flag = 'x'; Uri = 'http://127.0.0.1:1'; Colour = 'red' }
        @{ Name = 'config'; Strategy = 'Config'; Path = '.' }
        @{ Name = 'a'; Strategy = 'Config'; Path = '.'; DependsOn = 'b' }
        @{ Name = 'b'; Strategy = 'Config'; Path = '.'; DependsOn = 'a' }
        @{ Name = 'token'; Strategy = 'FeatureFlag'; Provider = 'Unleash'; Flag = 'x'; Uri = 'http://127.0.0.1:1'; ApiToken = 'plain-text-token' }
    )
}
'@
        $validation = Test-RollbackPlan $plan -ErrorVariable problems -ErrorAction SilentlyContinue
        $validation.Valid | Should -BeFalse
        $found = $validation.Problems | ForEach-Object { "$($_.ErrorId)@$($_.Line)" }
        $found | Should -Contain 'PlanStrategyUnknown@4'
        $found | Should -Contain 'PlanReferencedFileMissing@5'
        $found | Should -Contain 'PlanParameterUnknown@6'
        $found | Should -Contain 'PlanComponentDuplicate@7'
        $found | Should -Contain 'PlanDependencyCycle@8'
        $found | Should -Contain 'PlanParameterInvalid@10'
        $problems.Count | Should -Be $validation.Problems.Count
        $problems[0].FullyQualifiedErrorId | Should -Match '^Plan\w+,DeploymentRollback.Commands.TestRollbackPlanCommand$'

        { Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'PlanInvalid,DeploymentRollback.Commands.InvokeRollbackCommand'
        Test-Path $state | Should -BeFalse
        { Invoke-Rollback -Plan (Join-Path $root 'none.psd1') -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'PlanFileNotFound,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Invoke-Rollback -Plan $plan -Strategy Git -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'PlanParameterConflict,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Invoke-Rollback -Strategy Git -Component web -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'ParameterNotForStrategy,DeploymentRollback.Commands.InvokeRollbackCommand'
        Set-Content $plan "@{ Service = 'x'; Components = @( @{ Name = 'c'; Strategy = 'Config'; Path = (Get-Item .) } ) }"
        (Test-RollbackPlan $plan -ErrorAction SilentlyContinue).Problems.ErrorId | Should -Be 'PlanSyntaxInvalid'
    }

    It 'scaffolds a plan from what it finds in the folder, which Test-RollbackPlan accepts' {
        New-LocalService $root 'x'
        Remove-Item $plan
        Copy-Item (Join-Path $PSScriptRoot '../Fixtures/django-app/manage.py') $root
        $file = New-RollbackPlan -Service "svc-$id" -Path (Join-Path $root 'app/rollback.psd1') -HealthCheckUri 'http://127.0.0.1:8080/health'
        $file.Name | Should -Be 'rollback.psd1'
        (Test-RollbackPlan $file.FullName).Valid | Should -BeTrue
        (Test-RollbackPlan $file.FullName).Components.Strategy | Should -Be @('Git')
        { New-RollbackPlan -Service "svc-$id" -Path $file.FullName } | Should -Throw -ErrorId 'PlanFileExists,DeploymentRollback.Commands.NewRollbackPlanCommand'
    }
}
