"""The betting market's rules, needed by the model, Themis' callers and the evaluator alike:
win probabilities from odds (de-vigging), the complete-field rule, settlement by JRA rules and
the late-odds drift model. Depends on `keiba.common` only."""
