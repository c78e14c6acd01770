@{
    RootModule             = 'DeploymentRollback.Cmdlets.dll'
    # Stamped from Directory.Build.props by build.ps1; do not edit here.
    ModuleVersion          = '0.0.0'
    GUID                   = '7d3f2a51-6c1e-4f5b-9b2d-3a8e4c0f9d12'
    Author                 = 'DeploymentRollback contributors'
    CompanyName            = 'DeploymentRollback'
    Copyright              = '(c) DeploymentRollback contributors. MIT License.'
    Description            = 'Rolls a failed deployment back to its last verified-good state, proves it works again (health checks, smoke tests), keeps the failed state as a checkpoint, emits CloudEvents signals and writes an incident report with time to recovery.'
    PowerShellVersion      = '7.4'
    CompatiblePSEditions   = @('Core')
    FormatsToProcess       = @('DeploymentRollback.Format.ps1xml')
    CmdletsToExport        = @(
        'Get-RollbackAssessment'
        'New-RollbackCheckpoint'
        'Get-RollbackCheckpoint'
        'Invoke-Rollback'
        'Invoke-DeploymentRetry'
        'Test-RollbackHealth'
        'Send-RollbackSignal'
        'Get-RollbackSignal'
        'Get-RollbackHistory'
        'New-RollbackIncidentReport'
        'Get-RollbackChecklist'
        'Get-RollbackLock'
        'Unlock-RollbackTarget'
        'Copy-RollbackState'
        'Test-RollbackPlan'
        'New-RollbackPlan'
        'Get-RollbackMetrics'
        'Watch-RollbackTarget'
        'ConvertFrom-RollbackAlert'
        'Start-RollbackSignalListener'
    )
    FunctionsToExport      = @()
    AliasesToExport        = @()
    VariablesToExport      = @()
    PrivateData            = @{
        PSData = @{
            Tags         = @('rollback', 'deployment', 'devops', 'sre', 'incident', 'git', 'kubernetes', 'docker', 'runbook', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            ProjectUri   = 'https://github.com/DeploymentRollback/DeploymentRollback'
            LicenseUri   = 'https://github.com/DeploymentRollback/DeploymentRollback/blob/main/LICENSE'
            ReleaseNotes = 'Foundation: shared engine (journal, signals, checkpoints, reports, escalation, locking) and the Git strategy.'
        }
    }
}
