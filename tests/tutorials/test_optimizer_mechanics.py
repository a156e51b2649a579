import runpy


def test_the_optimizer_mechanics_page_runs_top_to_bottom_with_its_checks(capsys):
    namespace = runpy.run_module('labml_opt.tutorials.optimizer_mechanics', run_name='__main__')
    assert namespace['losses'][-1] < namespace['losses'][0]
    assert 'the restored optimizer takes the same step' in capsys.readouterr().out
