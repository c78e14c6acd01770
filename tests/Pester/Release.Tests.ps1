BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath
}

Describe 'The Release strategy (release folders and a current link)' -Skip:$IsWindows {
    It 'points current back at the previous release through the cmdlets, keeps the failed release and verifies' {
        $deploy = Join-Path $TestDrive 'deploy'
        foreach ($release in '20240201000000', '20240301000000') {
            $null = New-Item -ItemType Directory -Force (Join-Path $deploy "releases/$release")
            Set-Content (Join-Path $deploy "releases/$release/VERSION") $release
        }
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $deploy 'current') -Target 'releases/20240301000000'
        $state = Join-Path $TestDrive 'release-state'
        $server = Start-TestHttpServer -Status 200
        try {
            $child = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $state } -Script @"
`$ErrorActionPreference = 'Stop'
`$ProgressPreference = 'SilentlyContinue'
Import-Module '$modulePath'
`$assessment = Get-RollbackAssessment -Strategy Release -Path '$deploy'
"assessed=`$(`$assessment.CurrentVersion)->`$(`$assessment.LastGoodVersion)"
`$result = `$assessment | Invoke-Rollback -Confirm:`$false -HealthCheckUri '$($server.Uri)'
"outcome=`$(`$result.Outcome) to=`$(`$result.ToVersion) verified=`$(`$result.Verification)"
"@
            $child.Error | Should -BeNullOrEmpty
            $child.Output | Should -Match 'assessed=20240301000000->20240201000000'
            $child.Output | Should -Match 'outcome=Succeeded to=20240201000000 verified=Passed'
            (Get-Item (Join-Path $deploy 'current')).LinkTarget | Should -Be 'releases/20240201000000'
            Join-Path $deploy 'releases/20240301000000' | Should -Exist
        }
        finally { Stop-TestHttpServer $server }
    }

    It 'refuses a parameter of another strategy before anything changes' {
        $deploy = Join-Path $TestDrive 'deploy2'
        $null = New-Item -ItemType Directory -Force (Join-Path $deploy 'releases/1'), (Join-Path $deploy 'releases/2')
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $deploy 'current') -Target 'releases/2'
        Import-Module $modulePath -Force
        { Invoke-Rollback -Strategy Release -Path $deploy -Namespace shop -StateDirectory (Join-Path $TestDrive 's2') -Confirm:$false } |
            Should -Throw -ErrorId 'ParameterNotForStrategy,DeploymentRollback.Commands.InvokeRollbackCommand'
        (Get-Item (Join-Path $deploy 'current')).LinkTarget | Should -Be 'releases/2'
    }
}
