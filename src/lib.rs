//! copydesk: Dutch wire copy to English on local seq2seq models.
